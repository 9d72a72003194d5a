"""The job manager: one queue feeding the compute device, job events, cancel, idempotent submits.

Jobs wait in one FIFO queue; up to `max_active_jobs` run at once on worker threads and share the
compute device frame by frame through the `FairScheduler`. Every job keeps its event log, so a
watcher that connects late (or reconnects with `after_seq`) replays what it missed.

Lifecycle rules (docs/server.md):
- A watcher that disconnects does not cancel the job.
- An inline job whose upload breaks off (client gone, chunk out of order, garbage) is dropped and
  its spool removed; one whose frames never arrive is dropped after `upload_timeout_s`.
- An inline job's finished frames stay in the spool until a watcher has streamed them all, or
  `spool_ttl_s` after the job ended.
- When the server stops, queued and running jobs end with an UNAVAILABLE error; frames already
  finished stay on disk. Stopping on SIGTERM first drains: running jobs go on for up to `drain_s`
  and stop at a frame boundary.
- Every job and finished frame is written to the journal (`stylelock.server.journal`) as it
  happens; a restarted server lists its jobs again, those it was running or had waiting as failed
  ("interrupted"), and sweeps the temporary files their frames in hand left. An inline job's
  finished frames are kept by resume key (`stylelock.server.results`), so a resubmit makes only what
  is missing.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from stylelock.core.client import events as kinds
from stylelock.core.client.errors import status_of
from stylelock.core.client.events import JobEvent, JobInfo
from stylelock.core.errors import (
    AccessDeniedError,
    FramesMissingError,
    JobCancelledError,
    ResourceLimitError,
    ServerUnavailableError,
    SpecError,
    StyleLockError,
    UnknownJobError,
)
from stylelock.core.jobspec import JobSpec
from stylelock.core.sequence import FramePattern, frame_count_bound, parse_frames
from stylelock.server.auth import LOCAL_IDENTITY, Identity
from stylelock.server.config import ServerConfig, decode_limits
from stylelock.server.engine_cache import EngineCache
from stylelock.server.job_record import Job, JobEvents
from stylelock.server.journal import Journal
from stylelock.server.recovery import JournalWriter, recover_jobs
from stylelock.server.results import ResultCache
from stylelock.server.scheduler import FairScheduler
from stylelock.server.state import StateFolder
from stylelock.server.transport import AllowedRoots, Spool, UploadPiece

log = logging.getLogger(__name__)


def _key(owner: str, key: str) -> str:
    """Idempotency keys are each caller's own: two callers' `render-42` are two jobs."""
    return f"{owner}\0{key}"


def _pipeline():  # the pipeline pulls in OIIO/OCIO: loaded when the first job needs it
    from stylelock.server import pipeline

    return pipeline


class JobManager:
    def __init__(
        self,
        config: ServerConfig,
        roots: AllowedRoots,
        engines: EngineCache,
        state: StateFolder | None = None,
    ) -> None:
        self.config = config
        self.roots = roots
        self.engines = engines
        self.state = state or StateFolder(config.state_dir, "127.0.0.1:0")
        self.spool_root = Path(config.spool_dir) if config.spool_dir else self.state.spool
        self.journal = Journal(self.state.path)
        self.results = ResultCache(self.state.results, config.result_cache_bytes)
        self.scheduler = FairScheduler()
        self.limits = decode_limits(config)
        self._cond = threading.Condition()
        self._submit_lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[str, str] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._closing = False
        self._stopped = threading.Event()
        self._drain_cut = threading.Event()
        self._last_activity = time.monotonic()
        self.listeners: list[Callable[[Job, JobEvent], None]] = [JournalWriter(self.journal)]
        """Called with every job event as it happens (the journal, metrics); must be quick and not
        raise (a listener that raises is logged and skipped)."""
        for job in recover_jobs(
            self.journal, self.spool_root, may_sweep=self._may_write, private_spool=not config.spool_dir
        ):
            self._jobs[job.job_id] = job
            if job.key and not job.inline and job.state == kinds.FINISHED:
                self._by_key[_key(job.owner, job.key)] = job.job_id  # a retry finds it done
        self._workers = [
            threading.Thread(target=self._work, name=f"stylelock-job-{i}", daemon=True)
            for i in range(config.max_active_jobs)
        ]
        self._janitor = threading.Thread(target=self._sweep_loop, name="stylelock-janitor", daemon=True)
        for thread in (*self._workers, self._janitor):
            thread.start()

    # -- submit -----------------------------------------------------------------------------------
    def submit(
        self,
        spec_json: str,
        *,
        key: str = "",
        inline: bool = False,
        owner: str = "local",
        shot_frames: Sequence[int] = (),
    ) -> tuple[Job, bool]:
        """Validate and queue a job for `owner`; (job, existing) where existing means the key matched
        (keys are each owner's own). `shot_frames`: an inline job's plate frames on the client."""
        spec = JobSpec.from_json(spec_json)
        count = frame_count_bound(spec.frames)
        if count > self.config.max_job_frames:
            raise ResourceLimitError(
                f"the job asks for {count:,} frames; this server takes at most "
                f"{self.config.max_job_frames:,} a job (split the range)"
            )
        lookup = _key(owner, key)
        with self._submit_lock:
            with self._cond:
                self._check_open()
                known = self._jobs.get(self._by_key.get(lookup, "")) if key else None
                if known is not None and known.state in (kinds.FAILED, kinds.CANCELLED):
                    known = (
                        None  # a retry of a job that did not finish runs again (resume skips what is done)
                    )
                if known is not None:
                    if known.spec.to_json() != spec.to_json() or known.inline != inline:
                        shown = ascii(key[:64]) if len(key) <= 64 else ascii(key[:60])[:-1] + "...'"
                        raise SpecError(f"idempotency key {shown} was already used for another job")
                    return known, True
                self._check_room()
                self._check_owner_room(owner)
            job = Job(
                uuid.uuid4().hex[:12], spec, inline, key, parse_frames(spec.frames), time.time(), owner=owner
            )
            self.roots.check_spec(spec, inline=inline)
            if inline:
                uploads = self._precheck_inline(spec, job.frames, shot_frames)
                job.spool = Spool(self.spool_root, job.job_id, spec, uploads)
                job.run_spec = job.spool.job_spec(spec)
                job.state, job.last_activity = kinds.UPLOADING, time.monotonic()
            else:
                job.run_spec = spec
                job.prepared = _pipeline().prepare_job(spec, guard=self.roots.check, limits=self.limits)
            with self._cond:
                try:
                    self._check_open()
                    self._check_room()
                except StyleLockError:
                    if job.spool is not None:
                        job.spool.remove()
                    raise
                self._jobs[job.job_id] = job
                if key:
                    self._by_key[lookup] = job.job_id
                self.journal.submitted(job.job_id, owner, key, spec.to_json(), inline, job.state, job.created)
                if not inline:
                    self._enqueue(job)
        log.info("job %s submitted (%s, %s, frames %s)", job.job_id, spec.engine,
                 "inline" if inline else "shared paths", spec.frames)  # fmt: skip
        return job, False

    def _may_write(self, folder: str) -> bool:
        try:
            self.roots.check(folder, "output folder")
        except StyleLockError:
            return False
        return True

    def idle_seconds(self) -> float:
        """Seconds since a job was submitted or ended, when none is waiting or running; else 0."""
        with self._cond:
            if any(j.state not in kinds.ENDED_STATES for j in self._jobs.values()):
                return 0.0
            return time.monotonic() - self._last_activity

    def _check_owner_room(self, owner: str) -> None:
        mine = sum(1 for j in self._jobs.values() if j.owner == owner and j.state not in kinds.ENDED_STATES)
        if mine >= self.config.max_jobs_per_client:
            raise ResourceLimitError(
                f"{owner} has {mine} jobs waiting or running, the most one caller may have "
                f"({self.config.max_jobs_per_client}); wait for some to end"
            )

    def _check_open(self) -> None:
        if self._closing:
            raise ServerUnavailableError(
                "the StyleLock server is shutting down; submit again when it is back"
            )

    def _check_room(self) -> None:
        waiting = sum(1 for j in self._jobs.values() if j.state in (kinds.QUEUED, kinds.UPLOADING))
        if waiting >= self.config.max_queue:
            raise ResourceLimitError(
                f"the server's queue is full ({waiting} jobs waiting, limit {self.config.max_queue}); "
                "try again later"
            )

    @staticmethod
    def _precheck_inline(spec: JobSpec, frames: list[int], shot_frames: Sequence[int]) -> list[int]:
        """What can be checked before gigabytes travel (engine, parameters, patterns); returns the
        plate frames to upload: what the engine's temporal contract says the job reads, from the
        frames the client has (`shot_frames`; the job's own when it named none)."""
        from stylelock.core import temporal
        from stylelock.server.engine_check import check_engine

        engine, params = check_engine(spec)
        FramePattern.parse(spec.plate)
        if not spec.output.pattern:
            raise SpecError("an inline job needs an output pattern: where the client writes the frames")
        FramePattern.parse(spec.output.pattern)
        shot = sorted(set(shot_frames) | set(frames))
        styles = [style.frame for style in spec.styles]
        needed = temporal.job_inputs(engine.temporal, frames, shot, styles, params)
        absent = sorted(set(needed) - set(shot))
        if absent:
            raise FramesMissingError(
                f"the {spec.engine} job reads plate frame {absent[0]} (its temporal contract), which "
                "the client does not have"
            )
        return needed

    def _enqueue(self, job: Job) -> None:
        self._last_activity = time.monotonic()
        job.state = kinds.QUEUED
        self._queue.append(job)
        job.position = len(self._queue) - 1
        self._emit(job, kinds.QUEUED, position=job.position)
        self._cond.notify_all()

    # -- inline upload --------------------------------------------------------------------------------
    def receive_upload(
        self,
        pieces: Iterator[UploadPiece],
        viewer: Identity = LOCAL_IDENTITY,
        abort_stream: Callable[[], None] | None = None,
    ) -> Job:
        """Store an inline job's frames; queue the job once every file has arrived. `abort_stream`
        closes the upload's stream: the janitor calls it when nothing arrives for `stall_timeout_s`."""
        first = next(pieces, None)
        if first is None:
            raise SpecError("the upload stream carried no chunk")
        job = self.get(first.job_id, viewer)
        with self._cond:
            if job.state != kinds.UPLOADING or job.spool is None:
                raise SpecError(f"job {job.job_id} is not waiting for frames (it is {job.state})")
            if job.uploading:
                raise SpecError(f"job {job.job_id} is already receiving its frames from another upload")
            job.uploading = True
            job.abort_stream = abort_stream
            job.last_activity = time.monotonic()
        try:
            job.spool.receive(
                self._tracked(job, itertools.chain([first], pieces)),
                max_frame_bytes=self.config.max_frame_bytes,
                max_upload_bytes=self.config.max_upload_bytes,
                limits=self.limits,
            )
            missing = job.spool.missing()
            if missing:
                shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
                raise SpecError(
                    f"the upload of job {job.job_id} ended with {len(missing)} files missing: {shown}"
                )
            guard = self.roots.with_root(self.spool_root).check
            prepared = _pipeline().prepare_job(job.run_spec, guard=guard, limits=self.limits)
            if job.spec.output.resume:  # the spool's spec never resumes: its frames come from the cache
                prepared = dataclasses.replace(prepared, results=self.results)
            digests = {
                mine.path: prepared.style_digests[spooled.path]
                for mine, spooled in zip(job.spec.styles, job.run_spec.styles, strict=True)
            }
            # Outputs carry the hash of the job as the client named it, as an in-process run would.
            pixel_hash = _pipeline().settings_hash(job.spec, prepared.params, prepared.codec, digests)
            prepared = dataclasses.replace(prepared, pixel_hash=pixel_hash)
        except BaseException as exc:
            self._drop(job, exc)
            raise
        with self._cond:
            job.uploading = False
            cancelled = job.state != kinds.UPLOADING  # cancelled while the last bytes arrived
            if not cancelled:
                job.prepared = prepared
                self._enqueue(job)
        if cancelled:
            job.spool.remove()
            raise JobCancelledError(f"job {job.job_id} was cancelled during its upload")
        return job

    def _tracked(self, job: Job, pieces: Iterator[UploadPiece]) -> Iterator[UploadPiece]:
        for piece in pieces:
            if job.cancel.is_set():
                raise JobCancelledError(f"job {job.job_id} was cancelled during its upload")
            job.last_activity = time.monotonic()
            yield piece

    def _drop(self, job: Job, exc: BaseException) -> None:
        """End an inline job that never got its frames, and remove its spool (before anyone
        watching can see the job end)."""
        if job.spool is not None:
            job.spool.remove()
        if not isinstance(exc, StyleLockError):
            exc = ServerUnavailableError(f"the upload of job {job.job_id} broke off; job dropped")
        with self._cond:
            job.uploading = False
            if job.state == kinds.UPLOADING:
                self._end(job, kinds.FAILED, error=exc)
        log.info("job %s dropped during upload: %s", job.job_id, exc)

    # -- running ----------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                job = self._queue.popleft()
                job.state, job.started, job.position = kinds.RUNNING, time.time(), None
                self._reposition()
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            _pipeline().run_job(
                job.prepared,
                job_id=job.job_id,
                observer=JobEvents(self._emit, job),
                cancel=job.cancel,
                engines=self.engines,
                compute_turn=self.scheduler.turn_for(job.job_id),
            )
        except JobCancelledError as exc:
            with self._cond:
                if job.stop_reason == "shutdown":
                    self._end(job, kinds.FAILED, error=self._shutdown_error(job))
                else:
                    self._end(job, kinds.CANCELLED, message=exc.message)
        except Exception as exc:
            if not isinstance(exc, StyleLockError):
                log.exception("job %s failed unexpectedly", job.job_id)
            with self._cond:
                self._end(job, kinds.FAILED, error=exc)
        else:
            with self._cond:
                self._end(job, kinds.FINISHED, message=f"{job.frames_done} of {len(job.frames)} frames done")
        finally:
            self.scheduler.forget(job.job_id)
            if job.spool is not None:
                job.spool.remove_inputs()

    def _end(self, job: Job, state: str, *, message: str = "", error: BaseException | None = None) -> None:
        """Move `job` to an ended state and emit its terminal event. Caller holds the lock."""
        if job.state in kinds.ENDED_STATES:
            return
        job.state, job.ended, job.position = state, time.time(), None
        self._last_activity = time.monotonic()
        if error is not None:
            code, text, error_type = status_of(error)
            job.message = text
            self._emit(job, kinds.ERROR, message=text, code=code, error_type=error_type)
        else:
            job.message = message
            self._emit(job, state if state == kinds.CANCELLED else kinds.FINISHED, message=message)
        log.info("job %s %s: %s", job.job_id, state, job.message)

    @staticmethod
    def _shutdown_error(job: Job) -> ServerUnavailableError:
        return ServerUnavailableError(
            f"the StyleLock server shut down; job {job.job_id} stopped after {job.frames_done} of "
            f"{len(job.frames)} frames"
        )

    def _emit(self, job: Job, kind: str, **values: Any) -> None:
        with self._cond:
            event = JobEvent(kind, job_id=job.job_id, seq=len(job.events) + 1, time=time.time(), **values)
            job.events.append(event)
            self._cond.notify_all()
            for listener in self.listeners:
                try:
                    listener(job, event)
                except Exception:
                    log.exception("job event listener %r failed", listener)

    def _reposition(self) -> None:
        for index, queued in enumerate(self._queue):
            if queued.position != index:
                queued.position = index
                self._emit(queued, kinds.QUEUED, position=index)

    # -- queries and control ------------------------------------------------------------------------
    def get(self, job_id: str, viewer: Identity = LOCAL_IDENTITY) -> Job:
        """The job `job_id`, if `viewer` may see it (its owner or an admin)."""
        with self._cond:
            job = self._jobs.get(job_id)
        if job is None:
            shown = ascii(job_id[:64])
            shown = shown if len(shown) <= 66 and len(job_id) <= 64 else shown[:62] + "...'"
            raise UnknownJobError(f"no job {shown} on this server (it may have ended long ago)")
        if not viewer.may_see(job.owner):
            raise AccessDeniedError(f"job {job_id} is not yours ({viewer.name}); only its owner or an admin")
        return job

    def watch(self, job_id: str, after_seq: int = 0, *, is_active: Callable[[], bool] = lambda: True,
              poll: float = 0.25, viewer: Identity = LOCAL_IDENTITY) -> Iterator[JobEvent]:  # fmt: skip
        """The job's events after `after_seq`, live, until its terminal event or `is_active()` fails."""
        job = self.get(job_id, viewer)
        index = max(0, after_seq)
        while True:
            with self._cond:
                while len(job.events) <= index:
                    if job.events and job.events[-1].terminal:
                        return
                    self._cond.wait(poll)
                    if not is_active():
                        return
                batch = job.events[index:]
            index += len(batch)
            yield from batch
            if batch[-1].terminal:
                return

    def cancel(self, job_id: str, viewer: Identity = LOCAL_IDENTITY) -> Job:
        """Stop a job: a running one after the frame in hand, a waiting one at once."""
        job = self.get(job_id, viewer)
        with self._cond:
            job.stop_reason = job.stop_reason or "user"
            if job.state not in kinds.ENDED_STATES and job.cancel_requested is None:
                job.cancel_requested = time.time()
            if job.state in (kinds.RUNNING, kinds.UPLOADING, kinds.QUEUED):
                job.cancel.set()
            if job.state in (kinds.UPLOADING, kinds.QUEUED):
                if job.spool is not None and not job.uploading:  # an active upload removes its own
                    job.spool.remove()
                if job.state == kinds.QUEUED:
                    self._queue.remove(job)
                    self._reposition()
                    self._end(job, kinds.CANCELLED, message=f"job {job_id} cancelled before it started")
                else:
                    self._end(
                        job, kinds.CANCELLED, message=f"job {job_id} cancelled before its frames arrived"
                    )
        return job

    def jobs(self, include_ended: bool = False, viewer: Identity = LOCAL_IDENTITY) -> list[JobInfo]:
        """Every job; those `viewer` does not own (unless an admin) without paths or messages."""
        with self._cond:
            listed = [j.info() if viewer.may_see(j.owner) else j.redacted_info() for j in self._jobs.values()]
        if not include_ended:
            listed = [j for j in listed if j.state not in kinds.ENDED_STATES]
        return sorted(listed, key=lambda j: j.created)

    def delivered(self, job_id: str) -> None:
        """A watcher has streamed every finished frame of an ended inline job: free its spool."""
        job = self.get(job_id)
        if job.spool is not None and job.state in kinds.ENDED_STATES:
            job.spool.remove()

    # -- housekeeping ---------------------------------------------------------------------------------
    def _sweep_loop(self) -> None:
        shortest = min(self.config.upload_timeout_s, self.config.stall_timeout_s)
        while not self._stopped.wait(min(5.0, max(0.05, shortest / 4))):
            try:
                self.sweep()
            except Exception:  # the janitor must never die
                log.exception("job housekeeping failed")

    def sweep(self) -> None:
        """Drop stalled uploads, expire old spools, forget the oldest ended jobs."""
        now, wall = time.monotonic(), time.time()
        with self._cond:
            jobs = list(self._jobs.values())
        for job in jobs:
            if (job.state == kinds.UPLOADING and job.uploading and job.abort_stream is not None
                    and now - job.last_activity > self.config.stall_timeout_s):  # fmt: skip
                log.info("job %s: its upload sent nothing for %g s; closing it", job.job_id,
                         self.config.stall_timeout_s)  # fmt: skip
                job.abort_stream()  # the stream's iterator ends; the upload drops the job
                job.abort_stream = None
            elif (job.state == kinds.UPLOADING and not job.uploading
                    and now - job.last_activity > self.config.upload_timeout_s):  # fmt: skip
                limit = self.config.upload_timeout_s
                self._drop(
                    job,
                    ResourceLimitError(f"the frames of job {job.job_id} did not arrive within {limit:g} s"),
                )
            elif job.spool is not None and job.ended and wall - job.ended > self.config.spool_ttl_s:
                job.spool.remove()
        with self._cond:
            ended = sorted((j for j in self._jobs.values() if j.ended), key=lambda j: j.ended)
            for job in ended[: max(0, len(ended) - self.config.max_history)]:
                del self._jobs[job.job_id]
                self.journal.forget(job.job_id)
                if self._by_key.get(_key(job.owner, job.key)) == job.job_id:
                    del self._by_key[_key(job.owner, job.key)]

    def cut_drain(self) -> None:
        """End a drain now (a second SIGTERM): running jobs stop after the frame in hand."""
        self._drain_cut.set()

    def shutdown(self, timeout: float = 30.0, *, drain: float = 0.0) -> None:
        """Refuse new work and end waiting jobs (UNAVAILABLE to their watchers); let running jobs go
        on for up to `drain` seconds, then stop them after the frame in hand; free the spools and
        close the journal."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            for job in self._jobs.values():
                if job.state in (kinds.QUEUED, kinds.UPLOADING):
                    job.stop_reason = "shutdown"
                    job.cancel.set()
                    self._end(job, kinds.FAILED, error=self._shutdown_error(job))
            self._queue.clear()
            self._cond.notify_all()
            if drain > 0:
                running = sum(1 for j in self._jobs.values() if j.state == kinds.RUNNING)
                if running:
                    log.info("draining: %d running jobs may go on for up to %g s", running, drain)
                end = time.monotonic() + drain
                while (
                    any(j.state == kinds.RUNNING for j in self._jobs.values())
                    and time.monotonic() < end
                    and not self._drain_cut.is_set()
                ):
                    self._cond.wait(min(0.25, max(0.0, end - time.monotonic())))
            for job in self._jobs.values():
                if job.state == kinds.RUNNING:
                    job.stop_reason = "shutdown"
                    job.cancel.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._stopped.set()
        self._janitor.join(1.0)
        self.engines.close()
        for job in list(self._jobs.values()):
            if job.spool is not None:
                job.spool.remove()
        self.journal.close()
        self.state.close()
