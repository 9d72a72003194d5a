"""The server's state folder: its journal, the inline result cache and (by default) the spool.

One server at a time owns a state folder: it holds an exclusive lock on `<state>/lock` while it
runs, so a second server started on the same folder refuses to start instead of marking the first
one's jobs as interrupted. Where the folder is:

- `state_dir` when configured (a service gives one: docs/server.md);
- otherwise one per listening address under the user's state folder
  (`$XDG_STATE_HOME/stylelock/<address>`, default `~/.local/state/...`), so restarting a server on the
  same address finds its jobs again;
- for a server on port 0 (an address nobody can find again after a restart: tests, a farm task's
  private server) a fresh temporary folder, removed when the server stops.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO

from stylelock.core.errors import SpecError


def default_state_folder(address: str) -> Path | None:
    """Where a server listening on `address` keeps its state; None for a port-0 (ephemeral) server."""
    if not address.startswith("unix") and address.rsplit(":", 1)[-1] == "0":
        return None
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", address).strip("_") or "default"
    return Path(base) / "stylelock" / slug


class StateFolder:
    """An owned (locked) state folder; `close()` releases it (and removes an ephemeral one)."""

    def __init__(self, configured: str, address: str) -> None:
        chosen = Path(configured) if configured else default_state_folder(address)
        self.ephemeral = chosen is None
        self.path = Path(tempfile.mkdtemp(prefix="stylelock-state-")) if chosen is None else chosen
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SpecError(f"state folder {self.path} cannot be created: {exc.strerror}") from None
        self._lock = _lock(self.path / "lock")

    @property
    def spool(self) -> Path:
        return self.path / "spool"

    @property
    def results(self) -> Path:
        return self.path / "results"

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None
        if self.ephemeral:
            shutil.rmtree(self.path, ignore_errors=True)


def _lock(path: Path) -> IO[str]:
    handle = open(path, "a+")  # noqa: SIM115 - held open for the server's life: the lock is the handle
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise SpecError(
            f"state folder {path.parent} is in use by another StyleLock server ({owner}); "
            "give this one its own --state-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle
