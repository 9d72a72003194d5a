"""One job of one StyleLock node: submit, watch, land the frames in the comp.

In the GUI a `Runner` is a thread of its own: it shows a `nuke.ProgressTask` (reporting every frame
as it lands; its Cancel cancels the server job), polls the job (`stylelock.core.hosts.job`) and
touches the node only through `host.in_main_thread`. Under `nuke -t` there is no main-thread loop,
so `run()` is called in place and the node is touched directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stylelock.core.errors import StyleLockError
from stylelock.core.hosts import job as jobs
from stylelock.core.hosts.messages import one_line
from stylelock.core.jobspec import JobSpec
from stylelock.core.sequence import parse_frames
from stylelock_nuke import host

log = logging.getLogger(__name__)

#: How often a runner polls its job (seconds).
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Request:
    """What a button press decided on the main thread, handed to the runner."""

    node: str
    address: str
    spec: JobSpec
    preview: bool = False


class Runner:
    """One job of one node; see the module docstring."""

    def __init__(self, request: Request, *, gui: bool) -> None:
        self.request = request
        self.gui = gui
        self.job: jobs.RemoteJob | None = None
        self.spec: JobSpec | None = request.spec
        self.finished = threading.Event()
        self.on_landed: Callable[[str, str, str, int, int], None] | None = None
        """Told (node, kind, pattern, first, last) when the node's output shows this job's frames."""
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self.run, name="stylelock-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()
        if self.job is not None:
            self.job.cancel()

    def run(self) -> jobs.Progress:
        try:
            progress = self._run()
        except StyleLockError as exc:
            progress = jobs.Progress(state=jobs.FAILED, message=one_line(exc), error=exc)
        except Exception as exc:  # one line on the node; the traceback in the log
            log.exception("StyleLock runner failed")
            progress = jobs.Progress(
                state=jobs.FAILED, message=one_line(exc), error=StyleLockError(one_line(exc))
            )
        self._to_node(self._finish, progress)
        self.finished.set()
        return progress

    def _run(self) -> jobs.Progress:
        request = self.request
        self.job = jobs.RemoteJob(request.address, request.spec).start()
        if self._cancel.is_set():
            self.job.cancel()
        task = host.progress_task(f"StyleLock {request.node}") if self.gui else None
        while True:
            progress = self.job.poll()
            for line in progress.landed_lines():  # every frame is reported, however fast they land
                if task is not None:
                    task.setMessage(line)
                else:
                    host.log(f"StyleLock {request.node}: {line}")
            if task is not None:
                task.setProgress(int(100 * progress.fraction))
                if not progress.landed:
                    task.setMessage(progress.message)
                if task.isCancelled():
                    self.cancel()
            if progress.landed:
                self._to_node(self._landed, progress)
            for warning in progress.warnings:
                self._to_node(host.log, f"StyleLock warning: {warning}")
            if progress.ended:
                return progress
            time.sleep(POLL_SECONDS)

    def _to_node(self, call: Any, *args: Any) -> None:
        if self.gui:
            host.in_main_thread(call, *args)
        else:
            call(*args)

    def _landed(self, progress: jobs.Progress) -> None:
        node = host.node_by_name(self.request.node)
        kind = "preview" if self.request.preview else "restyle"
        frames = parse_frames(self.request.spec.frames)
        pattern = self.request.spec.output.pattern or ""
        if self.on_landed is not None:
            self.on_landed(self.request.node, kind, pattern, frames[0], frames[-1])
        if host.knob_value(node, "show") != kind:  # a change only: Nuke 17 calls knobChanged for it
            host.set_knob(node, "show", kind)
        host.point_read(node, pattern, frames[0], frames[-1])
        host.show_status(node, progress.message)

    def _finish(self, progress: jobs.Progress) -> None:
        node = host.node_by_name(self.request.node)
        if progress.state == jobs.FINISHED:
            self._landed(progress)
        host.show_status(node, progress.message, error=progress.state == jobs.FAILED)
