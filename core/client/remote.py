"""`run_remote`: run one job on a server to its end, the way the CLI and simple scripts want it."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from stylelock.core.client import events as kinds
from stylelock.core.client.connection import StyleLockClient, quiet_cancel
from stylelock.core.client.errors import make_error
from stylelock.core.client.events import JobEvent
from stylelock.core.errors import JobCancelledError
from stylelock.core.jobspec import JobSpec
from stylelock.core.paths import is_under
from stylelock.core.sequence import FramePattern

log = logging.getLogger(__name__)


def shared_paths_reachable(spec: JobSpec, allowed_roots: list[str]) -> bool:
    """True when the plate, the style references and the output folder all lie under a root."""
    if not allowed_roots or not spec.output.pattern:
        return False
    roots = [os.path.realpath(r) for r in allowed_roots]
    folders = [FramePattern.parse(spec.plate).dirname, FramePattern.parse(spec.output.pattern).dirname]
    folders += [s.path for s in spec.styles]
    return all(is_under(p or ".", roots) for p in folders)


def run_remote(
    address: str,
    spec: JobSpec,
    *,
    inline: bool | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    cancel: threading.Event | None = None,
    token: str | None = None,
    idempotency_key: str | None = None,
) -> list[int]:
    """Run `spec` on the server at `address` and return the frames written, when all are done.

    `inline=None` picks shared paths when the server's allowed roots contain the plate, style and
    output folders (as seen from here), inline transport otherwise. Setting `cancel` (the CLI does
    on Ctrl-C) cancels the job on the server; finished frames stay, `JobCancelledError` is raised.
    A failed job raises the server's StyleLockError with its message. `token` goes with every call
    (`StyleLockClient`). `idempotency_key`: a submit with the key of a job still queued or running
    re-attaches to it (a retried farm task) instead of starting another.
    """
    cancel = cancel or threading.Event()
    with StyleLockClient(address, token=token) as client:
        if inline is None:
            inline = not shared_paths_reachable(spec, client.info()["allowed_roots"])
        job_id = client.submit(spec, inline=inline, cancel=cancel, idempotency_key=idempotency_key)
        done: list[int] = []
        finished = threading.Event()
        canceller = threading.Thread(
            target=_cancel_when_asked, args=(client, job_id, cancel, finished), daemon=True
        )
        canceller.start()
        try:
            for event in client.watch(job_id):
                if on_event is not None:
                    on_event(event)
                if event.kind == kinds.FRAME_DONE and event.frame is not None:
                    done.append(event.frame)
                elif event.kind == kinds.ERROR:
                    raise make_error(event.code, event.message, event.error_type)
                elif event.kind == kinds.CANCELLED:
                    raise JobCancelledError(event.message or f"job {job_id} cancelled")
        except KeyboardInterrupt:
            quiet_cancel(client, job_id)
            raise JobCancelledError(f"job {job_id} cancelled; finished frames are on disk") from None
        except BaseException:
            # the watch broke (connection lost, a callback failed): the job must not run on unwatched,
            # where a retry elsewhere would do its frames twice (a no-op when it has already ended)
            quiet_cancel(client, job_id)
            raise
        finally:
            finished.set()
            canceller.join(timeout=5)
    return sorted(done)


def _cancel_when_asked(
    client: StyleLockClient, job_id: str, cancel: threading.Event, finished: threading.Event
) -> None:
    while not finished.is_set():
        if cancel.wait(0.1):
            quiet_cancel(client, job_id)
            return
