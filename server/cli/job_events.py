"""`stylelock restyle --json`: one JSON object per line for each job event, for wrappers and farm logs.

    {"event": "queued", "job": "3f2a...", "position": 0, "server": "gpu1:50151", "time": ...}
    {"event": "started", "job": "3f2a...", "frames": [1001, 1002], "server": "gpu1:50151", ...}
    {"event": "frame_done", "job": "3f2a...", "frame": 1001, "skipped": false, "path": "...",
     "seconds": {"read+encode": 0.04, "engine": 1.2, "decode": 0.03, "write": 0.05}, ...}
    {"event": "warning", "job": "3f2a...", "frame": 1002, "message": "...", ...}
    {"event": "finished", "made": 2, "skipped": 0, "seconds": 3.1, ...}
    {"event": "error", "exit_code": 9, "error": "ServerUnavailableError", "message": "...", ...}

The same lines come from a job run here (`job` is its local id, no `server`) and from jobs on one or
several servers (each line names its server). Every line is flushed as it happens.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO

from stylelock.core.client.events import JobEvent
from stylelock.core.errors import StyleLockError
from stylelock.server.pipeline import FrameDone, JobObserver


class JsonEvents(JobObserver):
    """Writes job events as JSON lines: an observer of a local job and a callback for server events."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()  # several servers' events arrive on several threads
        self.made = 0
        self.skipped = 0
        self.started = time.perf_counter()

    def emit(self, event: str, **fields: Any) -> None:
        record = {"event": event, **{k: v for k, v in fields.items() if v is not None}, "time": time.time()}
        with self._lock:
            self.stream.write(json.dumps(record, sort_keys=True) + "\n")
            self.stream.flush()

    # -- a local job (JobObserver) -------------------------------------------------------------
    def job_started(self, job_id: str, frames: Sequence[int]) -> None:
        self.emit("started", job=job_id, frames=list(frames))

    def frame_done(self, job_id: str, result: FrameDone) -> None:
        self._count(result.skipped)
        seconds = {k: round(v, 4) for k, v in result.seconds.items()}
        self.emit(
            "frame_done",
            job=job_id,
            frame=result.frame,
            path=result.path,
            skipped=result.skipped,
            seconds=seconds,
        )

    def warning(self, job_id: str, message: str, frame: int | None) -> None:
        self.emit("warning", job=job_id, frame=frame, message=message)

    # -- jobs on servers (on_event callbacks) --------------------------------------------------
    def server_event(self, event: JobEvent, server: str) -> None:
        job = event.job_id or None
        if event.kind == "queued":
            self.emit("queued", job=job, position=event.position, server=server)
        elif event.kind == "started":
            self.emit("started", job=job, frames=list(event.frames), server=server)
        elif event.kind == "frame_done":
            self._count(event.skipped)
            seconds = {k: round(v, 4) for k, v in event.timings.items()}
            self.emit(
                "frame_done",
                job=job,
                frame=event.frame,
                path=event.path or None,
                skipped=event.skipped,
                seconds=seconds,
                server=server,
            )
        elif event.kind == "warning":
            self.emit("warning", job=job, frame=event.frame, message=event.message, server=server)

    # -- the end ---------------------------------------------------------------------------------
    def finished(self, **fields: Any) -> None:
        seconds = round(time.perf_counter() - self.started, 3)
        self.emit("finished", made=self.made, skipped=self.skipped, seconds=seconds, **fields)

    def error(self, error: StyleLockError) -> None:
        self.emit("error", exit_code=error.exit_code, error=type(error).__name__, message=error.message)

    def _count(self, skipped: bool) -> None:
        with self._lock:
            if skipped:
                self.skipped += 1
            else:
                self.made += 1
