"""Fair turns on the one compute device: jobs that run at once take it one frame at a time.

Each running job enters `FairScheduler.turn(job_id)` around every engine step. When the device
comes free it goes to the waiting job served least recently, so two busy jobs alternate frame by
frame and a small job submitted behind a long one starts within one frame instead of waiting for
the long one to finish.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FairScheduler:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holder: str | None = None
        self._waiting: dict[str, int] = {}  # job id -> arrival ticket (ties among never-served)
        self._last_served: dict[str, int] = {}
        self._tickets = itertools.count()
        self._turns = itertools.count(1)
        self.history: list[str] = []
        """Job ids in the order they were granted the device (the last `HISTORY` turns)."""

    HISTORY = 1000

    @contextmanager
    def turn(self, job_id: str) -> Iterator[None]:
        """Hold the compute device for one step of `job_id`."""
        with self._cond:
            self._waiting[job_id] = next(self._tickets)
            while self._holder is not None or self._next() != job_id:
                self._cond.wait()
            del self._waiting[job_id]
            self._holder = job_id
            self._last_served[job_id] = next(self._turns)
            self.history.append(job_id)
            del self.history[: -self.HISTORY]
        try:
            yield
        finally:
            with self._cond:
                self._holder = None
                self._cond.notify_all()

    def _next(self) -> str:
        return min(self._waiting, key=lambda j: (self._last_served.get(j, 0), self._waiting[j]))

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def forget(self, job_id: str) -> None:
        """Drop what is remembered about an ended job."""
        with self._cond:
            self._last_served.pop(job_id, None)

    def turn_for(self, job_id: str):
        """The `compute_turn` callable `run_job` takes."""
        return lambda: self.turn(job_id)
