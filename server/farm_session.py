"""A StyleLock server that lives as long as a farm worker's session (OpenJD step environment).

`start` runs `stylelock serve` on a free loopback port as a process of its own session (so it
outlives the environment's onEnter action, and holds none of its output streams open), waits until
it listens, and records its address and process in a small JSON state file in the session's
working folder; every task of the session reads the address from there, so a diffusion model loads
once per worker, not once per chunk. `stop` (onExit) ends it. With an existing server's address
nothing is started: the state file names that server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stylelock.core.errors import ServerUnavailableError, SpecError

#: How long a starting server may take to listen (it imports the engines' libraries).
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
#: A session's server stops itself after this long without a job (its session is gone).
IDLE_EXIT_S = 900.0


def start(
    state: Path, *, server: str = "", allow_roots: Sequence[str] = (), extra: Sequence[str] = ()
) -> str:
    """Make sure a server is there for this session; returns its address (written to `state`)."""
    state = Path(state)
    state.parent.mkdir(parents=True, exist_ok=True)
    if server:
        state.write_text(json.dumps({"address": server}))
        return server
    log_path = state.with_suffix(".log")
    command = [sys.executable, "-m", "stylelock.server.cli", "serve", "--listen", "127.0.0.1:0"]
    command += ["--idle-exit-s", f"{IDLE_EXIT_S:g}"]  # a worker that dies never leaves it running
    for root in allow_roots:
        command += ["--allow-root", root]
    command += list(extra)
    detach: dict = {"start_new_session": True}
    if os.name == "nt":  # a process group of its own, no console: it outlives the action
        detach = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
    with open(log_path, "w") as log, open(os.devnull) as devnull:
        process = subprocess.Popen(command, stdin=devnull, stdout=log, stderr=subprocess.STDOUT, **detach)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log_path.read_text() if log_path.exists() else ""
        for line in text.splitlines():
            if "listening on" in line:
                address = line.split("listening on", 1)[1].strip()
                state.write_text(json.dumps({"address": address, "pid": process.pid, "log": str(log_path)}))
                return address
        if process.poll() is not None:
            last = text.strip().splitlines()[-1] if text.strip() else "no output"
            raise ServerUnavailableError(f"the session's StyleLock server exited at start: {last}")
        time.sleep(0.1)
    process.kill()
    raise ServerUnavailableError(
        f"the session's StyleLock server did not listen within {START_TIMEOUT_S:.0f} s"
    )


def address(state: Path) -> str:
    """The address `start` recorded."""
    try:
        return str(json.loads(Path(state).read_text())["address"])
    except FileNotFoundError:
        raise SpecError(
            f"no StyleLock session state at {state}: the step environment did not start"
        ) from None
    except (ValueError, KeyError):
        raise SpecError(f"the StyleLock session state {state} is unreadable") from None


def stop(state: Path) -> bool:
    """End the server `start` began (not a server it was only pointed at); True when one was stopped."""
    try:
        data = json.loads(Path(state).read_text())
    except (FileNotFoundError, ValueError):
        return False
    pid = data.get("pid")
    if not pid or not _is_our_server(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, OSError):
        return False
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    return True


def _is_our_server(pid: int) -> bool:
    """False when `pid` is no longer a StyleLock server (the process ended and its number was reused):
    checked on Linux from the process's command line; elsewhere the number is trusted."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc").is_dir():
        return True
    try:
        words = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return b"stylelock.server.cli" in words and b"serve" in words


def _alive(pid: int) -> bool:
    if hasattr(os, "WNOHANG"):
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            if waited == pid:
                return False
        except ChildProcessError:
            pass
    if os.name == "nt":  # signal 0 is CTRL_C_EVENT there: ask the OS instead
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
