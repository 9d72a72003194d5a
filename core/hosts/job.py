"""One restyle on a server, run off the host's main thread and read by polling.

Hosts must never block their UI on the network, and some cannot be called back from another thread
(Blender's data may only be touched from its main thread; Nuke's nodes only through
`nuke.executeInMainThread`). So a `RemoteJob` submits and watches on a worker thread of its own and
keeps a `Progress` snapshot; the host's main thread calls `poll()` (a Blender timer or modal
operator, a Nuke main-thread callback, a test) to read what changed. `on_change`, if given, is
called on the worker thread after every change: a host uses it only to schedule a poll on its main
thread. A farm script calls `wait()`.

    job = RemoteJob("127.0.0.1:50151", spec).start()
    while not (progress := job.poll()).ended:
        show(progress.fraction, progress.message, progress.landed)
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from stylelock.core.client import events as kinds
from stylelock.core.client.events import JobEvent
from stylelock.core.client.remote import run_remote
from stylelock.core.errors import JobCancelledError, StyleLockError
from stylelock.core.hosts.messages import one_line
from stylelock.core.jobspec import JobSpec

log = logging.getLogger(__name__)

#: Progress states, in the order a job normally goes through them.
CONNECTING = "connecting"
QUEUED = "queued"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
CANCELLED = "cancelled"
ENDED = frozenset({FINISHED, FAILED, CANCELLED})


@dataclass(frozen=True)
class Progress:
    """A job as a host shows it. `landed` and `warnings` hold what is new since the previous poll."""

    state: str = CONNECTING
    job_id: str = ""
    total: int = 0
    """Frames the job will make (resumed ones excluded), known once the server starts it."""
    done: tuple[int, ...] = ()
    """Frames complete on disk: made by this job or found already made (skipped)."""
    computed: tuple[int, ...] = ()
    """The frames this job actually made (not resumed)."""
    landed: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()
    message: str = "connecting to the StyleLock server"
    """One line for a status bar or a node."""
    error: StyleLockError | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def landed_lines(self) -> list[str]:
        """One line for each frame that landed since the previous poll (`frame 1004 done (4 of 24)`)."""
        total = len(self.done) + max(self.total - len(self.computed), 0)
        first = len(self.done) - len(self.landed)
        return [f"frame {frame} done ({first + i + 1} of {total})" for i, frame in enumerate(self.landed)]

    @property
    def fraction(self) -> float:
        """0..1 of the frames to make; 1 when the job ended with nothing to make."""
        if self.state == FINISHED:
            return 1.0
        return len(self.computed) / self.total if self.total else 0.0


class RemoteJob:
    """Run `spec` on the server at `address` on a worker thread; see the module docstring.

    `inline=None` picks shared paths when the server's allowed roots hold the plate, style and
    output folders, inline transport otherwise (`run_remote`). `token` goes with every call.
    """

    def __init__(
        self,
        address: str,
        spec: JobSpec,
        *,
        inline: bool | None = None,
        on_change: Callable[[], None] | None = None,
        token: str | None = None,
    ) -> None:
        self.address = address
        self.token = token
        self.spec = spec
        self.inline = inline
        self.on_change = on_change
        self._lock = threading.Lock()
        self._progress = Progress()
        self._landed: list[int] = []
        self._warnings: list[str] = []
        self._cancel = threading.Event()
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._work, name="stylelock-job", daemon=True)

    def start(self) -> RemoteJob:
        self._thread.start()
        return self

    # -- the host's side -----------------------------------------------------------------------
    def poll(self) -> Progress:
        """The job now, with the frames that landed and the warnings raised since the last poll."""
        with self._lock:
            progress = dataclasses.replace(
                self._progress, landed=tuple(self._landed), warnings=tuple(self._warnings)
            )
            self._landed.clear()
            self._warnings.clear()
        return progress

    def cancel(self) -> None:
        """Ask the server to stop the job after the frame in hand (returns at once; no network here)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> Progress:
        """Block until the job ends (or `timeout` passes) and return `poll()`."""
        self._ended.wait(timeout)
        return self.poll()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- the worker's side ---------------------------------------------------------------------
    def _work(self) -> None:
        try:
            run_remote(
                self.address,
                self.spec,
                inline=self.inline,
                on_event=self._on_event,
                cancel=self._cancel,
                token=self.token,
            )
        except JobCancelledError as exc:
            self._end(CANCELLED, one_line(exc), None)
        except StyleLockError as exc:
            self._end(FAILED, one_line(exc), exc)
        except Exception as exc:  # shown as one line; the traceback goes to the host's log
            log.exception("StyleLock job failed")
            self._end(FAILED, one_line(exc), StyleLockError(one_line(exc)))
        else:
            with self._lock:
                made = len(self._progress.computed)
                reused = len(self._progress.done) - made
            message = f"finished: {made} frames made" + (f", {reused} already up to date" if reused else "")
            self._end(FINISHED, message, None)

    def _on_event(self, event: JobEvent) -> None:
        with self._lock:
            self._progress = _advance(self._progress, event)
            if event.kind == kinds.FRAME_DONE and event.frame is not None:
                self._landed.append(event.frame)
            elif event.kind == kinds.WARNING:
                self._warnings.append(event.message)
        self._changed()

    def _end(self, state: str, message: str, error: StyleLockError | None) -> None:
        with self._lock:
            self._progress = dataclasses.replace(self._progress, state=state, message=message, error=error)
        self._ended.set()
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # a host callback must not kill the job's thread
                log.exception("StyleLock progress callback failed")


def _advance(progress: Progress, event: JobEvent) -> Progress:
    """The progress after one job event (terminal events are handled by `RemoteJob._end`)."""
    job_id = event.job_id or progress.job_id
    if event.kind == kinds.QUEUED:
        where = "next" if not event.position else f"{event.position} ahead"
        return dataclasses.replace(progress, state=QUEUED, job_id=job_id, message=f"queued ({where})")
    if event.kind == kinds.STARTED:
        total = len(event.frames)
        return dataclasses.replace(
            progress, state=RUNNING, job_id=job_id, total=total, message=f"running: 0 of {total} frames"
        )
    if event.kind == kinds.FRAME_DONE and event.frame is not None:
        done = (*progress.done, event.frame)
        computed = progress.computed if event.skipped else (*progress.computed, event.frame)
        message = f"running: {len(computed)} of {progress.total} frames (frame {event.frame})"
        return dataclasses.replace(progress, job_id=job_id, done=done, computed=computed, message=message)
    return dataclasses.replace(progress, job_id=job_id)


__all__ = ["CANCELLED", "ENDED", "FAILED", "FINISHED", "QUEUED", "RUNNING", "Progress", "RemoteJob"]
