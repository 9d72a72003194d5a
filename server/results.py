"""Finished frames of inline jobs, kept by resume key, so a re-run makes only what is missing.

An inline job's outputs live in its spool until the client has them; the client's disk is where a
shared-path job's resume would look, and the server cannot. So every frame an inline job makes is
also kept here under its resume key (`stylelock.server.resume`: settings, models and the content of
the plate frames it is made from), hard-linked when the file system allows. A later inline job (a
re-run, or a resubmit after a crash or `kill -9`) whose frame has the same key gets that file back
instead of making it again. The cache is bounded (`result_cache_bytes`), oldest first out.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class ResultCache:
    def __init__(self, folder: str | Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        for leftover in self.folder.glob("*/.*.tmp"):  # a copy a killed server did not finish
            leftover.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.exr"

    def get(self, key: str) -> Path | None:
        path = self._path(key)
        if not path.is_file():
            return None
        os.utime(path)  # recently used: evicted last
        return path

    def put(self, key: str, source: str | Path) -> None:
        """Keep `source` (a finished frame) under `key`; a failure is logged, never raised."""
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(Path(source), target)
        except OSError as exc:
            log.warning("result cache: could not keep %s: %s", source, exc)
            return
        self._evict()

    def forget(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def restore(self, key: str, destination: str | Path) -> bool:
        """Put the frame kept under `key` at `destination` (atomically); False when none is kept."""
        found = self.get(key)
        if found is None:
            return False
        try:
            _link_or_copy(found, Path(destination))
        except OSError as exc:
            log.warning("result cache: could not restore %s: %s", found, exc)
            return False
        return True

    def _evict(self) -> None:
        with self._lock:
            files = [p for p in self.folder.glob("*/*.exr") if p.is_file()]
            total = sum(p.stat().st_size for p in files)
            if total <= self.max_bytes:
                return
            for path in sorted(files, key=lambda p: p.stat().st_mtime):
                if total <= self.max_bytes:
                    break
                total -= path.stat().st_size
                path.unlink(missing_ok=True)


def _link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes `source`'s content in one rename (a hard link, else a copy)."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            os.link(source, temp)
        except OSError:
            shutil.copyfile(source, temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
