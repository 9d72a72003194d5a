"""What the StyleLock client hands to hosts: plain frozen dataclasses, never proto objects.

Hosts (Nuke, Blender, scripts) read job progress as `JobEvent`s and the server's job list as
`JobInfo`s. The server builds the same `JobEvent`s internally, so both ends share one vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Event kinds, in the order a job normally produces them.
QUEUED = "queued"
STARTED = "started"
FRAME_STARTED = "frame_started"
FRAME_DONE = "frame_done"
WARNING = "warning"
ERROR = "error"
FINISHED = "finished"
CANCELLED = "cancelled"
EVENT_KINDS = (QUEUED, STARTED, FRAME_STARTED, FRAME_DONE, WARNING, ERROR, FINISHED, CANCELLED)
TERMINAL_KINDS = frozenset({ERROR, FINISHED, CANCELLED})

#: Job states.
UPLOADING = "uploading"
RUNNING = "running"
FAILED = "failed"
ENDED_STATES = frozenset({FINISHED, FAILED, CANCELLED})


@dataclass(frozen=True)
class JobEvent:
    """One step of a job's life.

    `kind` is one of `EVENT_KINDS`. `frame` is set for frame events (and frame warnings),
    `seconds` is a finished frame's time on the server and `timings` its parts ("read+encode",
    "engine", "decode", "write"),
    `position` a queued job's place (0 = next to start), `code` and `error_type` an error's gRPC
    status name and StyleLockError class name, `message` the text to show as it is.
    """

    kind: str
    job_id: str = ""
    seq: int = 0
    frame: int | None = None
    seconds: float = 0.0
    timings: Mapping[str, float] = field(default_factory=dict)
    message: str = ""
    position: int | None = None
    code: str = ""
    error_type: str = ""
    path: str = ""
    skipped: bool = False
    frames: tuple[int, ...] = ()
    time: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown job event kind {self.kind!r}")
        object.__setattr__(self, "timings", MappingProxyType(dict(self.timings)))
        object.__setattr__(self, "frames", tuple(self.frames))

    @property
    def terminal(self) -> bool:
        """True for the last event of a job (finished, error or cancelled)."""
        return self.kind in TERMINAL_KINDS


@dataclass(frozen=True)
class JobInfo:
    """A job as the server lists it."""

    job_id: str
    state: str
    engine: str = ""
    plate: str = ""
    inline: bool = False
    frames_total: int = 0
    frames_done: int = 0
    position: int | None = None
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    message: str = ""
    idempotency_key: str = ""
    output: str = ""
    """The output pattern as the submitting client named it ("" when frames are returned inline only)."""
    frames: str = ""
    """The job's frame range expression."""
