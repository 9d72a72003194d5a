"""What the job manager writes to its journal, and what a restarted server makes of it.

`JournalWriter` listens to every job event (`JobManager.listeners`) and records state changes and
finished frames. `recover_jobs` reads the journal back when the server starts: ended jobs return as
they ended; a job that was waiting or running when the server died returns as failed
("interrupted"), with the temporary files its frames in hand left beside its outputs removed and
its spool (an inline job's uploads) deleted. A resubmit then recomputes only what is missing:
shared-path outputs carry their resume keys, inline ones are in the result cache.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from stylelock.core.client import events as kinds
from stylelock.core.client.errors import status_of
from stylelock.core.client.events import JobEvent
from stylelock.core.errors import ServerUnavailableError
from stylelock.core.jobspec import JobSpec
from stylelock.core.sequence import FramePattern, parse_frames
from stylelock.server.job_record import Job
from stylelock.server.journal import Journal, JournalJob, sweep_outputs

log = logging.getLogger(__name__)


class JournalWriter:
    """A `JobManager` listener: each job's state changes and finished frames, as they happen."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def __call__(self, job: Job, event: JobEvent) -> None:
        if event.kind == kinds.FRAME_DONE and event.frame is not None:
            self.journal.frame_done(job.job_id, event.frame)
        elif event.kind == kinds.QUEUED and event.position is not None and job.state == kinds.QUEUED:
            self.journal.state(job.job_id, kinds.QUEUED, frames_done=job.frames_done)
        elif event.kind == kinds.STARTED:
            self.journal.state(job.job_id, kinds.RUNNING, started=job.started, frames_done=job.frames_done)
        elif event.terminal:
            self.journal.state(
                job.job_id, job.state, ended=job.ended, message=job.message, code=event.code,
                frames_done=job.frames_done,
            )  # fmt: skip


def recover_jobs(
    journal: Journal,
    spool_root: Path,
    *,
    may_sweep: Callable[[str], bool],
    private_spool: bool,
) -> list[Job]:
    """The journal's jobs as `Job`s, each with its terminal event, oldest first.

    `may_sweep(folder)` says whether an output folder is still one the server may write (its
    allowed roots); leftovers are removed only there. `private_spool`: the spool folder is the
    server's own, so anything in it (no job runs yet) is a leftover and goes.
    """
    recovered = []
    for saved in journal.jobs():
        try:
            job = _job_from(saved)
        except Exception as exc:  # a row this version cannot read: forgotten, not fatal
            log.warning("journal: job %s cannot be restored (%s); forgotten", saved.job_id, exc)
            journal.forget(saved.job_id)
            continue
        if saved.state not in kinds.ENDED_STATES:
            _interrupted(job, saved, journal, may_sweep)
        else:
            job.state, job.message = saved.state, saved.message
            job.events.append(_terminal_event(job, saved.code))
        if job.inline:
            shutil.rmtree(spool_root / job.job_id, ignore_errors=True)
        recovered.append(job)
    if private_spool and spool_root.is_dir():
        for leftover in spool_root.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
    return recovered


def _job_from(saved: JournalJob) -> Job:
    spec = JobSpec.from_json(saved.spec_json)
    job = Job(saved.job_id, spec, saved.inline, saved.key, parse_frames(spec.frames), saved.created)
    job.owner, job.run_spec = saved.owner, spec
    job.started, job.ended = saved.started, saved.ended
    job.frames_done = max(saved.frames_done, len(saved.finished_frames))
    return job


def _interrupted(job: Job, saved: JournalJob, journal: Journal, may_sweep: Callable[[str], bool]) -> None:
    finished = set(saved.finished_frames)
    in_hand = [frame for frame in job.frames if frame not in finished]
    swept: list[str] = []
    pattern = job.spec.output.pattern
    if not job.inline and pattern and in_hand:
        folder = FramePattern.parse(pattern).dirname or "."
        if may_sweep(folder):
            swept = sweep_outputs(pattern, in_hand)
    error = ServerUnavailableError(
        f"interrupted: the server stopped while job {job.job_id} was {saved.state}, after "
        f"{len(finished)} of {len(job.frames)} frames; submit it again to make the rest"
    )
    code, text, error_type = status_of(error)
    job.state, job.message, job.ended = kinds.FAILED, text, time.time()
    job.events.append(
        JobEvent(
            kinds.ERROR,
            job_id=job.job_id,
            seq=1,
            time=job.ended,
            message=text,
            code=code,
            error_type=error_type,
        )
    )
    journal.state(job.job_id, kinds.FAILED, ended=job.ended, message=text, code=code,
                  frames_done=job.frames_done)  # fmt: skip
    log.info("job %s was interrupted by the last stop (%d of %d frames done; %d leftovers removed)",
             job.job_id, len(finished), len(job.frames), len(swept))  # fmt: skip


def _terminal_event(job: Job, code: str) -> JobEvent:
    """The ended job's last event, for a watcher who asks after the restart."""
    if job.state == kinds.FAILED:
        return JobEvent(kinds.ERROR, job_id=job.job_id, seq=1, time=job.ended or 0.0, message=job.message,
                        code=code or "UNKNOWN")  # fmt: skip
    kind = kinds.CANCELLED if job.state == kinds.CANCELLED else kinds.FINISHED
    return JobEvent(kind, job_id=job.job_id, seq=1, time=job.ended or 0.0, message=job.message)
