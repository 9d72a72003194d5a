"""A real `stylelock serve` process for the benches that drive one over the wire: started on a free
loopback port, its memory (and its decode workers') read from /proc, killed or stopped; and a
snapshot of the `stylelock` package for it to run.

The working tree is shared: an engine edited while a bench runs would change what a later server
process imports halfway through the run. `snapshot_package` copies the package as it is when the
run starts, and the servers (and anything else the bench runs in a subprocess) import that copy.

Not a bench itself: `bench/kill9.py` and `bench/soak.py` use it (and measure it).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def package_dirs(root: Path = ROOT) -> dict[str, str]:
    """pyproject's package-dir: import name (stylelock.core) to repository folder (core)."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(config["tool"]["setuptools"]["package-dir"])


def snapshot_package(dest: Path, root: Path = ROOT) -> dict[str, str]:
    """Copy the `stylelock` package as the working tree holds it now to `dest/stylelock`; returns the
    environment under which a subprocess imports that copy instead of the (editable) checkout."""
    package = dest / "stylelock"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name, folder in package_dirs(root).items():
        target = package / name.split(".", 1)[1]
        shutil.copytree(root / folder, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    paths = [str(dest), *filter(None, [os.environ.get("PYTHONPATH", "")])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def snapshot_path(dest: Path, relative: str, root: Path = ROOT) -> Path | None:
    """Where the snapshot in `dest` holds the repository file `relative` (None: not in the package)."""
    for name, folder in package_dirs(root).items():
        if relative.startswith(folder.rstrip("/") + "/"):
            return dest / "stylelock" / name.split(".", 1)[1] / relative[len(folder.rstrip("/")) + 1 :]
    return None


class ServerProcess:
    """`stylelock serve --listen 127.0.0.1:0 FLAGS...`, its log (stderr) appended to `log_path`."""

    def __init__(
        self, *flags: str, log_path: Path, env: dict[str, str] | None = None, start_timeout: float = 120.0
    ) -> None:
        command = [sys.executable, "-m", "stylelock.server.cli", "serve", "--listen", "127.0.0.1:0", *flags]
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the process's life
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)
        self.pid = self.process.pid
        self.started = time.monotonic()
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(start_timeout)
        first = lines[0] if lines else ""
        if "listening on" not in first:
            self.process.kill()
            self.process.wait(30)
            self._log.close()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"stylelock serve did not start (first line {first!r}); log: {tail}")
        self.address = first.split("listening on", 1)[1].strip()
        # the rest of stdout is drained so that the server never blocks on a full pipe
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[int]:
        """The server's child processes (its upload decode workers)."""
        return children(self.pid)

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(60)
        self._log.close()

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM (the server drains), and its exit status."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(30)
        self._log.close()
        return code


def status_kib(pid: int, field: str) -> int:
    """A `/proc/<pid>/status` size field (VmRSS, VmHWM) in KiB; 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead but not reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pinned_code(dest: Path, script: str, measures: tuple[str, ...]) -> tuple[dict[str, str], dict]:
    """Snapshot the package into `dest` and stamp the bench's MEASURES (bench/provenance.py) from
    the same state of the tree: (the subprocess environment, the provenance block)."""
    from provenance import file_hash, stamp

    for _ in range(5):
        shutil.rmtree(dest, ignore_errors=True)
        env = snapshot_package(dest)
        record = stamp(script, measures)
        copies = {path: snapshot_path(dest, path) for path in record["files"]}
        if all(copy is None or file_hash(copy) == record["files"][path] for path, copy in copies.items()):
            return env, record
        time.sleep(2)  # a measured file changed while it was copied: take it again
    raise RuntimeError("the measured files keep changing; cannot take a consistent snapshot")


def machine() -> dict:
    """What the numbers ran on."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg": list(os.getloadavg()),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }
