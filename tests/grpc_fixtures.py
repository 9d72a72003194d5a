"""Real StyleLock servers for tests: in-process, on loopback TCP (port 0) or a unix socket.

from grpc_fixtures import serve, tiny_plate, SlowEngine, register_engine

with serve(allow_roots=[tmp_path]) as (server, address):
    run_remote(address, spec, inline=True)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline_engines import SlowEngine  # noqa: F401 - shared with the pipeline tests

from stylelock.server.app import StyleLockServer, create_server
from stylelock.server.config import ServerConfig
from stylelock.server.engines.base import Engine


@contextlib.contextmanager
def serve(
    transport: str = "tcp", *, allow_roots: Any = (), **settings: Any
) -> Iterator[tuple[StyleLockServer, str]]:
    """A started server; `transport` is "tcp" (127.0.0.1:0) or "unix" (a socket in a temp folder)."""
    with contextlib.ExitStack() as stack:
        if "spool_dir" not in settings:
            settings["spool_dir"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="sl-spool-"))
        config = ServerConfig(**settings)
        if transport == "unix":
            # Socket paths are limited to ~100 bytes: keep it short, outside pytest's deep tmp_path.
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="sl-", dir="/tmp"))
            address = f"unix://{folder}/s.sock"
        else:
            address = "127.0.0.1:0"
        server, bound = create_server(address, allow_roots=[os.fspath(r) for r in allow_roots], config=config)
        server.start()
        try:
            yield server, bound
        finally:
            server.stop(1).wait(10)


def serve_process(*flags: str) -> tuple[subprocess.Popen, str]:
    """A real `stylelock serve` process on 127.0.0.1:0 that also offers the tests' slow engine (to
    kill or signal mid-job); returns it and its address. `flags` are serve's own."""
    tests = str(Path(__file__).resolve().parent)
    code = (
        f"import sys; sys.path.insert(0, {tests!r})\n"
        "from stylelock.server import engines\n"
        "engines.BUILTIN_ENGINES['test-slow'] = 'pipeline_engines:SlowEngine'\n"
        "from stylelock.server.cli import main\n"
        f"sys.exit(main(['serve', '--listen', '127.0.0.1:0', *{list(flags)!r}]))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert "listening on" in line, line
    return process, line.split("listening on", 1)[1].strip()


def tiny_plate(folder: Path, frames: str = "1001-1003", width: int = 64, height: int = 48, **kw: Any) -> str:
    """The sample plate (overscan, alpha, AOVs, highlights) at a tiny size; returns its pattern."""
    from stylelock.core.sample import write_sample_plate

    return write_sample_plate(folder, frames=frames, width=width, height=height, **kw)


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def register_engine(monkeypatch: Any, cls: type[Engine]) -> None:
    """Make `cls` available by name to the in-process server for one test."""
    from stylelock.server import engines

    monkeypatch.setitem(engines.BUILTIN_ENGINES, cls.name, f"{cls.__module__}:{cls.__name__}")


def partial_files(folder: Path) -> list[str]:
    """Temporary or partial files left in `folder` (there must never be any)."""
    return sorted(
        p.name for p in Path(folder).iterdir() if p.name.startswith(".") or p.suffix in (".part", ".tmp")
    )
