"""The server's memory across restarts: a SQLite journal of jobs and their finished frames.

Every submit, state change and finished frame is written to `<state_dir>/journal.sqlite` (WAL mode,
one connection behind a lock) as it happens, so after a crash or a `kill -9` the restarted server
knows every job it had: ended ones come back as they ended, ones that were waiting or running come
back as failed ("interrupted"), their finished frames listed and the half-written leftovers of the
frames in hand swept (`sweep_outputs`). Nothing here decides what is recomputed: resume keys do
(`stylelock.server.resume`), and an inline job's finished frames are kept by content key in the
result cache (`stylelock.server.results`), so a resubmit or a re-run makes only what is missing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stylelock.core.sequence import FramePattern

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, owner TEXT NOT NULL, key TEXT NOT NULL, spec_json TEXT NOT NULL,
    inline INTEGER NOT NULL, state TEXT NOT NULL, created REAL NOT NULL, started REAL, ended REAL,
    message TEXT NOT NULL DEFAULT '', code TEXT NOT NULL DEFAULT '',
    frames_done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS frames (
    job_id TEXT NOT NULL, frame INTEGER NOT NULL, PRIMARY KEY (job_id, frame)
);
"""


@dataclass(frozen=True)
class JournalJob:
    job_id: str
    owner: str
    key: str
    spec_json: str
    inline: bool
    state: str
    created: float
    started: float | None
    ended: float | None
    message: str
    code: str
    frames_done: int
    finished_frames: tuple[int, ...]


class Journal:
    """Jobs and finished frames on disk. Thread-safe; every write is committed at once."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "journal.sqlite"
        self._lock = threading.Lock()
        self._closed = False
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()

    def _run(self, sql: str, *args: object) -> None:
        with self._lock:
            if self._closed:  # a job thread still ending after the server stopped: nothing to keep
                return
            try:
                self._db.execute(sql, args)
            except sqlite3.Error as exc:  # a full disk must not stop jobs: the journal is best effort
                log.error("journal write failed: %s", exc)

    def submitted(self, job_id: str, owner: str, key: str, spec_json: str, inline: bool, state: str,
                  created: float) -> None:  # fmt: skip
        self._run(
            "INSERT OR REPLACE INTO jobs (job_id, owner, key, spec_json, inline, state, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            job_id, owner, key, spec_json, int(inline), state, created,
        )  # fmt: skip

    def state(self, job_id: str, state: str, *, started: float | None = None, ended: float | None = None,
              message: str = "", code: str = "", frames_done: int = 0) -> None:  # fmt: skip
        self._run(
            "UPDATE jobs SET state = ?, started = COALESCE(?, started), ended = COALESCE(?, ended), "
            "message = ?, code = ?, frames_done = ? WHERE job_id = ?",
            state, started, ended, message[:1000], code, frames_done, job_id,
        )  # fmt: skip

    def frame_done(self, job_id: str, frame: int) -> None:
        self._run("INSERT OR IGNORE INTO frames (job_id, frame) VALUES (?, ?)", job_id, frame)

    def forget(self, job_id: str) -> None:
        self._run("DELETE FROM frames WHERE job_id = ?", job_id)
        self._run("DELETE FROM jobs WHERE job_id = ?", job_id)

    def jobs(self) -> Iterator[JournalJob]:
        """Every job the journal holds, oldest first, with its finished frames."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, owner, key, spec_json, inline, state, created, started, ended, message, "
                "code, frames_done FROM jobs ORDER BY created"
            ).fetchall()
            frames: dict[str, list[int]] = {}
            for job_id, frame in self._db.execute("SELECT job_id, frame FROM frames ORDER BY frame"):
                frames.setdefault(job_id, []).append(frame)
        for row in rows:
            yield JournalJob(*row[:4], bool(row[4]), *row[5:], tuple(frames.get(row[0], ())))


def sweep_outputs(pattern: str, frames: list[int]) -> list[str]:
    """Remove what an interrupted job's writer left of its frames in hand: the temporary files
    (`.<frame name>.<pid>.<random>.tmp`, `core.exr.write`) beside each output frame. Returns them."""
    try:
        output = FramePattern.parse(pattern)
    except Exception:  # an unreadable old pattern: nothing to sweep
        return []
    removed = []
    folder = Path(output.dirname or ".")
    if not folder.is_dir():
        return []
    names = {Path(output.path(frame)).name for frame in frames}
    for entry in folder.iterdir():
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            base = entry.name[1:].rsplit(".", 3)[0]
            if base in names:
                entry.unlink(missing_ok=True)
                removed.append(str(entry))
    return removed
