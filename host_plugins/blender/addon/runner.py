"""A Restyle or Preview in progress: render what is missing, restyle on the server, load the result.

`Run.step()` is the poller: it does a bounded piece of work and returns a `Progress`
(`stylelock.core.hosts.job`). The modal operator calls it from its timer; without a UI (tests,
`blender -b` scripts) the operator or the caller calls it in a loop, because headless Blender fires
no timers. Network waits never happen here: the job runs on `RemoteJob`'s own thread.

Phases: rendering (each missing plate frame into the cache's staging folder, then moved into place
with one rename, so a cancelled or failed render never leaves half a frame where the server reads),
the job (submitted through `RemoteJob`, polled), and loading (the frames into a compositor Image
node, optionally a sequencer strip). `cancel()` stops between plate frames or asks the server to
stop the job after the frame in hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from stylelock.core.errors import StyleLockError
from stylelock.core.hosts import job as jobs
from stylelock.core.hosts.cache import clear_staging, prune, publish, staging
from stylelock.core.hosts.messages import one_line
from stylelock.core.jobspec import JobSpec
from stylelock.core.sequence import FramePattern, parse_frames

from . import host

log = logging.getLogger(__name__)

RENDERING = "rendering"

#: The run of each scene that has one, by scene name (what Cancel and the panel look at).
RUNS: dict[str, Run] = {}


@dataclass(frozen=True)
class PlateRender:
    """What to render before the job: `frames` of the scene into `pattern` (the cache's plate)."""

    view_layer: str
    pattern: str
    frames: tuple[int, ...]
    shot: tuple[int, ...]
    """The scene's frames: cached plate frames outside it are removed (the server reads them all)."""
    vector: bool
    depth: bool


@dataclass(frozen=True)
class Request:
    """Everything a run needs, gathered from the scene on the main thread when the button is pressed."""

    scene: str
    address: str
    spec: JobSpec
    node: str
    colorspace: str
    render: PlateRender | None = None
    token: str = ""
    add_strip: bool = False
    label: str = "Restyle"


def _runs(frames: tuple[int, ...], invoke: bool) -> list[tuple[int, int, int]]:
    """Frames as (first, last, step) renders: one a frame when blocking (progress and Esc between
    frames), contiguous runs for Blender's render job."""
    if not invoke:
        return [(f, f, 1) for f in frames]
    runs: list[tuple[int, int, int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], frame, 1)
        else:
            runs.append((frame, frame, 1))
    return runs


class Run:
    """One Restyle or Preview of a scene; see the module docstring."""

    def __init__(self, request: Request, *, invoke_render: bool = False) -> None:
        self.request = request
        self.invoke_render = invoke_render
        self._render = request.render
        self._runs = _runs(request.render.frames, invoke_render) if request.render else []
        self._rendered: list[int] = []
        self._stack = contextlib.ExitStack()
        self._in_flight: tuple[int, int, int] | None = None
        self._flight_end: bool | None = None  # cancelled? once Blender's render job ended
        self._watch: Any = None
        self._job: jobs.RemoteJob | None = None
        self._landed: list[int] = []
        self._cancelled = False
        self._final: jobs.Progress | None = None
        self.loaded: Any = None
        total = len(request.render.frames) if request.render else 0
        self._progress = jobs.Progress(state=RENDERING, total=total, message="starting")

    # -- the operator's side -----------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self._final is not None

    @property
    def job_id(self) -> str:
        return self._progress.job_id

    def cancel(self) -> None:
        """Stop after the plate frame being rendered, or ask the server to stop the job."""
        self._cancelled = True
        if self._job is not None:
            self._job.cancel()

    def step(self) -> jobs.Progress:
        """Advance the run by a bounded piece of work; returns the progress (see the module docstring)."""
        if self._final is not None:
            return self._final
        try:
            if self._job is None:
                self._step_render()
            if self._final is None and self._job is not None:
                self._step_job()
        except (StyleLockError, LookupError, RuntimeError, OSError) as exc:
            line = one_line(exc) if isinstance(exc, StyleLockError) else " ".join(str(exc).split())
            self._finish(jobs.FAILED, line, exc if isinstance(exc, StyleLockError) else StyleLockError(line))
        return self._final or self._progress

    def wait(self, *, poll: float = 0.05) -> jobs.Progress:
        """Step until the run ends, sleeping `poll` seconds between steps (no UI: scripts, tests)."""
        import time

        while not (progress := self.step()).ended:
            time.sleep(poll)
        return progress

    # -- phases ----------------------------------------------------------------------------------------
    def _step_render(self) -> None:
        if self._in_flight is not None:
            if self._flight_end is None:
                return  # Blender's render job is still going
            self._land_run(self._in_flight, cancelled=self._flight_end)
        if self._final is not None:
            return
        if self._cancelled:
            self._finish(jobs.CANCELLED, "cancelled while rendering; no job was submitted", None)
            return
        if self._runs:
            self._start_run(self._runs.pop(0))
            return
        self._stack.close()
        self._submit()

    def _start_run(self, run: tuple[int, int, int]) -> None:
        render = self._render
        assert render is not None
        sc = host.scene(self.request.scene)
        if not self._rendered and self._in_flight is None:
            FramePattern.parse(render.pattern)  # a malformed pattern fails before Blender renders
            prune(render.pattern, render.shot)
            clear_staging(render.pattern)
            self._stack.enter_context(
                host.plate_output(
                    sc, render.view_layer, staging(render.pattern), vector=render.vector, depth=render.depth
                )
            )
        first, last, _ = run
        self._progress = dataclasses.replace(
            self._progress,
            message=f"rendering frame {first}"
            + (f"-{last}" if last != first else "")
            + f" ({len(self._rendered)} of {len(render.frames)} rendered)",
        )
        self._in_flight, self._flight_end = run, None
        if self.invoke_render:
            self._watch = host.watch_render(self._render_ended)
            host.render_run(sc, *run, invoke=True)
        else:
            host.render_run(sc, *run, invoke=False)
            self._flight_end = False
            self._land_run(run, cancelled=False)

    def _render_ended(self, cancelled: bool) -> None:
        self._flight_end = cancelled

    def _land_run(self, run: tuple[int, int, int], *, cancelled: bool) -> None:
        self._in_flight = None
        if self._watch is not None:
            host.unwatch_render(self._watch)
            self._watch = None
        first, last, step = run
        frames = list(range(first, last + 1, step))
        if cancelled:
            self._cancelled = True
            self._finish(jobs.CANCELLED, "the render was cancelled; no job was submitted", None)
            return
        assert self._render is not None
        publish(self._render.pattern, frames)
        self._rendered.extend(frames)
        self._progress = dataclasses.replace(
            self._progress, done=tuple(self._rendered), computed=tuple(self._rendered)
        )

    def _submit(self) -> None:
        request = self.request
        self._progress = jobs.Progress(message=f"connecting to {request.address}")
        self._job = jobs.RemoteJob(request.address, request.spec, token=request.token or None).start()

    def _step_job(self) -> None:
        assert self._job is not None
        progress = self._job.poll()
        self._landed.extend(progress.landed)
        for warning in progress.warnings:
            log.warning("StyleLock %s: %s", self.request.scene, warning)
        self._progress = progress
        if not progress.ended:
            return
        if progress.state == jobs.FINISHED:
            self._load()
            self._final = dataclasses.replace(
                progress, message=f"{progress.message}; loaded into the compositor node {self.request.node!r}"
            )
        else:
            self._final = progress
        self._stack.close()

    def _load(self) -> None:
        request = self.request
        frames = parse_frames(request.spec.frames)
        output = FramePattern.parse(request.spec.output.pattern or "")
        sc = host.scene(request.scene)
        self.loaded = host.load_sequence_node(
            sc, request.node, output.path(frames[0]), frames[0], frames[-1], request.colorspace
        )
        if request.add_strip:
            host.load_sequence_strip(sc, [output.path(f) for f in frames], frames[0])

    def _finish(self, state: str, message: str, error: StyleLockError | None) -> None:
        if self._watch is not None:
            host.unwatch_render(self._watch)
            self._watch = None
        self._stack.close()
        if self._job is not None and not self._job.poll().ended:
            self._job.cancel()
        self._final = dataclasses.replace(self._progress, state=state, message=message, error=error)
