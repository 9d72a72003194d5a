"""One server job's record, and the observer that turns pipeline callbacks into its events."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stylelock.core.client import events as kinds
from stylelock.core.client.events import JobEvent, JobInfo
from stylelock.core.jobspec import JobSpec
from stylelock.server.transport import Spool

#: Longest message a job listing carries (a listing must stay far below the message size limit).
MESSAGE_LIMIT = 1000


@dataclass(eq=False)
class Job:
    job_id: str
    spec: JobSpec
    """The spec as the client sent it."""
    inline: bool
    key: str
    frames: list[int]
    created: float
    state: str = kinds.QUEUED
    run_spec: JobSpec | None = None
    prepared: Any = None
    spool: Spool | None = None
    events: list[JobEvent] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float | None = None
    ended: float | None = None
    message: str = ""
    frames_done: int = 0
    position: int | None = None
    last_activity: float = 0.0
    stop_reason: str = ""
    cancel_requested: float | None = None
    uploading: bool = False
    abort_stream: Any = None
    """Closes the stream of an upload in progress (set while one is open)."""
    owner: str = "local"
    """The identity that submitted it (`stylelock.server.auth`): only it and admins see its details."""

    def info(self) -> JobInfo:
        return JobInfo(
            job_id=self.job_id,
            state=self.state,
            engine=self.spec.engine,
            plate=self.spec.plate,
            inline=self.inline,
            frames_total=len(self.frames),
            frames_done=self.frames_done,
            position=self.position,
            created=self.created,
            started=self.started,
            ended=self.ended,
            message=self.message[:MESSAGE_LIMIT],
            idempotency_key=self.key[:MESSAGE_LIMIT],
            output=self.spec.output.pattern or "",
            frames=str(self.spec.frames),
        )

    def redacted_info(self) -> JobInfo:
        """The job as another caller may see it: that it exists, its engine and progress, no paths."""
        info = self.info()
        return dataclasses.replace(info, plate="", output="", frames="", message="", idempotency_key="")


class JobEvents:
    """Turns the pipeline's callbacks into the job's events (a duck-typed `JobObserver`)."""

    def __init__(self, emit: Callable[..., None], job: Job) -> None:
        self.emit, self.job = emit, job

    def job_started(self, job_id: str, frames: Any) -> None:
        self.emit(self.job, kinds.STARTED, frames=tuple(frames))

    def frame_started(self, job_id: str, frame: int) -> None:
        self.emit(self.job, kinds.FRAME_STARTED, frame=frame)

    def frame_done(self, job_id: str, result: Any) -> None:
        self.job.frames_done += 1
        self.emit(
            self.job,
            kinds.FRAME_DONE,
            frame=result.frame,
            seconds=float(sum(result.seconds.values())),
            timings=dict(result.seconds),
            path=result.path,
            skipped=result.skipped,
        )

    def warning(self, job_id: str, message: str, frame: int | None) -> None:
        self.emit(self.job, kinds.WARNING, frame=frame, message=message)
