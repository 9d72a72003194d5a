"""The restyle pipeline: plate frames -> model space -> engine -> scene-linear -> EXR.

The same code runs in-process (CLI, tests, farm tasks) and inside the gRPC server. `prepare_job`
checks everything cheap before any work is queued; `run_job` streams: a reader thread decodes and
colour-encodes frame N+1 while the engine works on frame N, and a writer thread decodes and writes
frame N-1, so a 100-frame 4K job holds only a few frames at a time. Outputs are written atomically
and carry a resume key that follows the content of the plate frames they are made from
(`stylelock.server.resume`), so a resumed job redoes only what is missing or changed.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylelock.core import __version__
from stylelock.core.colour import ModelSpaceCodec, ResolvedConfig, resolve_config
from stylelock.core.errors import JobCancelledError, OutputError, PlateMismatchError, SpecError
from stylelock.core.exr import output_compression, read_exr_header, write_exr
from stylelock.core.exr.limits import DecodeLimits
from stylelock.core.jobspec import ColourSettings, JobSpec
from stylelock.core.paths import names_files
from stylelock.core.sequence import FramePattern, resolve_plate
from stylelock.server.engine_cache import EngineCache
from stylelock.server.engine_check import check_engine
from stylelock.server.engines.base import Engine, ModelFrame, ShotContext, ShotPlan
from stylelock.server.frames import DecodedFrame, FrameCodec, file_digest, load_style
from stylelock.server.logs import job_logging
from stylelock.server.masks import MaskSource
from stylelock.server.results import ResultCache
from stylelock.server.resume import FRAME_KEY_ATTRIBUTE, FrameKeys

log = logging.getLogger(__name__)

PathGuard = Callable[[str, str], None]
"""Raises when a path (and what it is) may not be opened: a server's allowed roots."""

#: How many decoded frames the reader may hold ahead of the engine.
READ_AHEAD = 2


@dataclass(frozen=True)
class FrameDone:
    """One finished frame, as reported to observers."""

    frame: int
    path: str
    skipped: bool
    seconds: Mapping[str, float] = field(default_factory=dict)


class JobObserver:
    """Receives a job's progress.

    Calls come one at a time (the job serialises them) but not always from the thread that runs
    `run_job`: `frame_done` arrives from the writer thread the moment a frame is on disk, so
    progress never lags behind the engine.
    """

    def job_started(self, job_id: str, frames: Sequence[int]) -> None:
        """The job starts; `frames` are the frames that will be produced (resumed ones excluded)."""

    def frame_started(self, job_id: str, frame: int) -> None:
        """The engine starts on `frame`."""

    def frame_done(self, job_id: str, result: FrameDone) -> None:
        """`frame` is complete on disk (or was already, when `result.skipped`)."""

    def warning(self, job_id: str, message: str, frame: int | None) -> None:
        """Something the user should know that does not stop the job."""


@dataclass(frozen=True)
class JobSummary:
    job_id: str
    frames: list[int]
    outputs: dict[int, str]
    skipped: list[int]
    warnings: list[str]
    seconds: float


@dataclass(frozen=True)
class PreparedJob:
    """A spec whose every cheap check passed, with what those checks resolved."""

    spec: JobSpec
    plate: list[tuple[int, str]]
    engine: type[Engine]
    params: Mapping[str, Any]
    config: ResolvedConfig
    codec: ModelSpaceCodec
    style_digests: Mapping[str, str]
    plate_size: tuple[int, int]
    output: FramePattern
    pixel_hash: str
    guard: PathGuard | None = None
    """On a server: checks each path against the allowed roots where it is opened (not only at submit)."""
    limits: DecodeLimits | None = None
    """On a server: what a frame's header may ask before its pixels are allocated."""
    results: ResultCache | None = None
    """On a server, for an inline job: finished frames kept by resume key. A frame found there is
    put in place instead of made again, and every frame made is kept."""

    def open(self, path: str, what: str) -> str:
        """`path`, checked by the guard (if any) just before it is opened or written."""
        if self.guard is not None:
            self.guard(path, what)
        return path

    def provenance(self) -> dict[str, str]:
        """Header attributes every output frame carries. Deterministic: no clocks, no hosts."""
        spec = self.spec
        attributes = {
            "stylelock:version": __version__,
            "stylelock:engine": spec.engine,
            "stylelock:params": json.dumps(dict(self.params), sort_keys=True),
            "stylelock:styles": json.dumps(
                [{"frame": s.frame, "digest": self.style_digests[s.path]} for s in spec.styles]
            ),
            "stylelock:colour": json.dumps(self.codec.describe(), sort_keys=True),
            "stylelock:pixelHash": self.pixel_hash,
        }
        if spec.proxy < 1.0:
            attributes["stylelock:proxy"] = f"{spec.proxy:g}"
        if spec.mask:
            attributes["stylelock:mask"] = spec.mask
        return attributes


def prepare_job(
    spec: JobSpec, guard: PathGuard | None = None, limits: DecodeLimits | None = None
) -> PreparedJob:
    """Validate a job before it is queued; raises a `StyleLockError` naming what is wrong. `guard`
    (a server's allowed roots) is kept to check every path again where it is opened."""
    engine, params = check_engine(spec)
    if not spec.output.pattern:
        raise SpecError("job has no output pattern (--out)")
    output = FramePattern.parse(spec.output.pattern)
    plate = resolve_plate(spec.plate, spec.frames)
    _check_outputs_are_not_inputs(spec, output, [frame for frame, _ in plate])
    config = resolve_config(spec.colour.config)
    codec = ModelSpaceCodec(config, spec.colour.input_space, spec.colour.encoding)
    header = read_exr_header(plate[0][1]).main
    plate_size = (header.data_window.width, header.data_window.height)
    if spec.mask:
        MaskSource(spec.mask, header.channels).check(plate[0][0])
    digests = {style.path: file_digest(style.path) for style in spec.styles}
    _check_writable(Path(output.path(plate[0][0])).parent)
    return PreparedJob(
        spec=spec,
        plate=plate,
        engine=engine,
        params=params,
        config=config,
        codec=codec,
        style_digests=digests,
        plate_size=plate_size,
        output=output,
        pixel_hash=settings_hash(spec, params, codec, digests),
        guard=guard,
        limits=limits,
    )


def _check_outputs_are_not_inputs(spec: JobSpec, output: FramePattern, frames: list[int]) -> None:
    """No output frame may be a file the job reads (a plate, style, mask or guide file), however the
    output is spelled (`plate.#.exr`, `plate.%d.exr`, a folder reached through a symlink)."""
    inputs: dict[str, str] = {}
    sequences = [("plate", spec.plate)]
    sequences += [("mask", spec.mask)] if spec.mask and names_files(spec.mask) else []
    sequences += [(f"guide {n!r}", s) for n, s in spec.guides.items() if names_files(s)]
    for what, pattern in sequences:
        sequence = FramePattern.parse(pattern)
        for frame in sequence.existing_frames():
            inputs[os.path.realpath(sequence.path(frame))] = f"{what} frame {frame}"
    for style in spec.styles:
        inputs[os.path.realpath(style.path)] = "a style reference"
    for frame in frames:
        target = os.path.realpath(output.path(frame))
        if target in inputs:
            raise SpecError(
                f"output {spec.output.pattern} would overwrite {inputs[target]} ({output.path(frame)})"
            )


def settings_hash(
    spec: JobSpec, params: Mapping[str, Any], codec: ModelSpaceCodec, style_digests: Mapping[str, str]
) -> str:
    """`spec.pixel_hash` of the settings as resolved, not as spelled: validated parameters (an
    explicit default is the default), the colour config by its content (the same config at another
    path, on another machine, is the same; an edited one is not) and the space it resolves
    (`ACEScg`, `lin_ap1` and the scene_linear role are one space), so equal jobs resume each other's
    frames wherever they run."""
    config = hashlib.sha256(codec.config.config.serialize().encode()).hexdigest()[:16]
    colour = ColourSettings(f"content:{config}", codec.input_space, codec.encoding)
    return spec.with_changes(params=params, colour=colour).pixel_hash(style_digests)


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"output folder {folder} cannot be created: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable")


def _already_done(path: str, frame_key: str) -> bool:
    if not os.path.exists(path):
        return False
    try:
        attributes = read_exr_header(path).main.attributes
    except Exception:  # an unreadable old output is simply redone
        return False
    return attributes.get(FRAME_KEY_ATTRIBUTE) == frame_key


def run_job(
    job: JobSpec | PreparedJob,
    *,
    job_id: str | None = None,
    observer: JobObserver | None = None,
    cancel: threading.Event | None = None,
    engines: EngineCache | None = None,
    compute_turn: Callable[[], AbstractContextManager[Any]] | None = None,
) -> JobSummary:
    """Run a job to completion in the calling thread. See the module docstring."""
    prepared = job if isinstance(job, PreparedJob) else prepare_job(job)
    job_id = job_id or uuid.uuid4().hex[:12]
    observer = observer or JobObserver()
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    own_cache = engines is None
    engines = engines or EngineCache(max_engines=1)
    try:
        with job_logging(job_id):  # lines logged while it runs here (engine loading) name the job
            run = _JobRun(prepared, job_id, observer, cancel, engines, compute_turn or nullcontext)
            run.execute()
    finally:
        if own_cache:
            engines.close()
    return JobSummary(
        job_id=job_id,
        frames=[frame for frame, _ in prepared.plate],
        outputs=run.outputs,
        skipped=run.skipped,
        warnings=run.warnings,
        seconds=time.perf_counter() - started,
    )


class _JobRun:
    """The moving parts of one running job (threads, queues, timings)."""

    def __init__(
        self,
        prepared: PreparedJob,
        job_id: str,
        observer: JobObserver,
        cancel: threading.Event,
        engines: EngineCache,
        compute_turn: Callable[[], AbstractContextManager[Any]],
    ) -> None:
        self.prepared = prepared
        self.job_id = job_id
        self.observer = observer
        self.cancel = cancel
        self.engines = engines
        self.compute_turn = compute_turn
        spec = prepared.spec
        self.frames = FrameCodec(prepared.codec, layer=spec.layer, proxy=spec.proxy, limits=prepared.limits)
        self.frames.expected_size = prepared.plate_size
        self.mask = MaskSource(spec.mask, None, open_path=prepared.open) if spec.mask else None
        self.plate_pattern = FramePattern.parse(spec.plate)
        self.outputs: dict[int, str] = {}
        self.skipped: list[int] = []
        self.warnings: list[str] = []
        self.provenance = prepared.provenance()
        self.compression_override = spec.output.compression
        self.log = logging.LoggerAdapter(log, {"job_id": job_id})
        self.events = threading.RLock()
        """Serialises observer calls from the job's threads."""
        self.plate_frames = self._plate_frames()
        self.frame_keys: dict[int, str] = {}

    # -- orchestration ---------------------------------------------------------------------------
    def execute(self) -> None:
        engine = self.engines.get(self.prepared.engine)
        self.frame_keys = self._frame_keys(engine)
        todo = self._frames_to_do()
        self.observer.job_started(self.job_id, [frame for frame, _ in todo])
        if not todo:
            return
        shot = self._shot_context(engine, [frame for frame, _ in todo])
        pending: queue.SimpleQueue[DecodedFrame] = queue.SimpleQueue()
        timings: dict[int, dict[str, float]] = {}
        reader = _Reader(self, todo, timings)
        styled_frames = engine.restyle(shot, reader.model_frames(pending))
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"write-{self.job_id}")
        in_flight: Future[FrameDone] | None = None
        try:
            while True:
                if self.cancel.is_set():
                    break
                engine_started = time.perf_counter()
                with self.compute_turn():
                    styled = next(styled_frames, None)
                if styled is None:
                    break
                decoded = pending.get_nowait()
                timings[decoded.number]["engine"] = (
                    time.perf_counter() - engine_started - reader.wait_seconds.pop(decoded.number, 0.0)
                )
                if in_flight is not None:
                    in_flight.result()  # one frame in the writer at a time; raises its error
                # The writer (and the reader) log in the job's context: their lines name the job.
                write = contextvars.copy_context().run
                in_flight = writer.submit(write, self._write, decoded, styled, timings[decoded.number])
            if in_flight is not None:
                in_flight.result()
        finally:
            reader.stop()
            writer.shutdown(wait=True)
            close = getattr(styled_frames, "close", None)
            if close is not None:
                close()
        if self.cancel.is_set():
            raise JobCancelledError(
                f"job {self.job_id} cancelled after {len(self.outputs)} of {len(todo)} frames; "
                "finished frames are complete on disk"
            )
        if reader.error is not None:
            raise reader.error
        missing = [frame for frame, _ in todo if frame not in self.outputs]
        if missing:
            raise PlateMismatchError(
                f"engine {self.prepared.spec.engine!r} returned {len(todo) - len(missing)} frames "
                f"for {len(todo)}"
            )

    def _frame_keys(self, engine: Engine) -> dict[int, str]:
        """Each frame's resume key: the settings, the engine's model files, the plate it reads."""
        spec, prepared = self.prepared.spec, self.prepared
        plan = ShotPlan(self.plate_frames, tuple(s.frame for s in spec.styles), prepared.params)
        settings = prepared.pixel_hash
        identity = engine.identity(prepared.params, spec.guides)
        if identity:
            settings = f"{settings}|models:{identity}"
        keys = FrameKeys(
            prepared.engine, settings, plan, self.plate_pattern.path, mask=spec.mask, guides=spec.guides
        )
        return keys.keys(frame for frame, _ in prepared.plate)

    def _frames_to_do(self) -> list[tuple[int, str]]:
        todo = []
        resume = self.prepared.spec.output.resume
        for frame, path in self.prepared.plate:
            out_path = self.prepared.output.path(frame)
            if (resume and _already_done(out_path, self.frame_keys[frame])) or self._from_cache(
                frame, out_path
            ):
                self.skipped.append(frame)
                self.outputs[frame] = out_path
                self.observer.frame_done(self.job_id, FrameDone(frame, out_path, skipped=True))
            else:
                todo.append((frame, path))
        return todo

    def _from_cache(self, frame: int, out_path: str) -> bool:
        """Put a frame made by an earlier job with the same key in place (an inline re-run)."""
        results, key = self.prepared.results, self.frame_keys[frame]
        kept = f"{key}-{frame}"  # a key names what a frame is made from; engines reading the whole
        # shot give every frame one key, so the frame's number completes it
        if results is None or not results.restore(kept, self.prepared.open(out_path, "output frame")):
            return False
        if _already_done(out_path, key):  # the kept file says what it is: never trust a name alone
            return True
        os.unlink(out_path)
        results.forget(kept)
        return False

    def _shot_context(self, engine: Engine, frames: list[int]) -> ShotContext:
        styles = tuple(
            load_style(
                dataclasses.replace(ref, path=self.prepared.open(ref.path, "style reference")),
                self.frames,
                self.prepared.plate_size,
                self.prepared.style_digests[ref.path],
            )
            for ref in self.prepared.spec.styles
        )
        return ShotContext(
            job_id=self.job_id,
            frames=tuple(frames),
            styles=styles,
            params=self.prepared.params,
            load_frame=self.load_model_frame,
            guides=self.prepared.spec.guides,
            device=engine.device,
            plate_frames=self.plate_frames,
            open_path=self.prepared.open,
            is_cancelled=self.cancel.is_set,
            warn=lambda message: self.emit_warning(message, None),
            log=self.log,
        )

    def _plate_frames(self) -> tuple[int, ...]:
        """Every frame of the plate on disk (one folder listing, nothing decoded), so an engine sees
        the whole shot and not only this chunk. An inline job's plate is its spool: the uploaded
        frames only."""
        on_disk = set(self.plate_pattern.existing_frames())
        return tuple(sorted(on_disk.union(frame for frame, _ in self.prepared.plate)))

    def load_model_frame(self, number: int) -> ModelFrame:
        """Random access for engines (keyframe anchors, backward passes, warm-up)."""
        path = self.prepared.open(self.plate_pattern.path(number), "plate frame")
        return self.frames.decode_file(number, path).model

    def emit_warning(self, message: str, frame: int | None) -> None:
        text = f"frame {frame}: {message}" if frame is not None else message
        self.log.warning("%s", text)
        with self.events:
            self.warnings.append(text)
            self.observer.warning(self.job_id, message, frame)

    # -- per frame -------------------------------------------------------------------------------
    def _write(self, decoded: DecodedFrame, styled: np.ndarray, seconds: dict[str, float]) -> FrameDone:
        started = time.perf_counter()
        mask = self.mask.load(decoded.number, decoded.image) if self.mask else None
        image = self.frames.encode_result(decoded, styled, mask)
        seconds["decode"] = time.perf_counter() - started
        started = time.perf_counter()
        path = self.prepared.output.path(decoded.number)
        compression = output_compression(image.main.compression, self.compression_override)
        attributes = dict(
            self.provenance,
            **{"stylelock:frame": str(decoded.number), FRAME_KEY_ATTRIBUTE: self.frame_keys[decoded.number]},
        )
        write_exr(
            self.prepared.open(path, "output frame"),
            image,
            compression=compression,
            extra_attributes=attributes,
        )
        seconds["write"] = time.perf_counter() - started
        if self.prepared.results is not None:
            self.prepared.results.put(f"{self.frame_keys[decoded.number]}-{decoded.number}", path)
        done = FrameDone(decoded.number, path, skipped=False, seconds=dict(seconds))
        with self.events:
            self.outputs[done.frame] = done.path
            self.observer.frame_done(self.job_id, done)
        return done


class _Reader:
    """Decodes and colour-encodes frames ahead of the engine on a background thread."""

    _END = object()

    def __init__(self, run: _JobRun, todo: list[tuple[int, str]], timings: dict[int, dict[str, float]]):
        self.run = run
        self.todo = todo
        self.timings = timings
        self.error: BaseException | None = None
        self.wait_seconds: dict[int, float] = {}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._work,), name=f"read-{run.job_id}", daemon=True
        )
        self._thread.start()

    def _work(self) -> None:
        try:
            for number, path in self.todo:
                if self._stop.is_set() or self.run.cancel.is_set():
                    break
                started = time.perf_counter()
                decoded = self.run.frames.decode_file(number, self.run.prepared.open(path, "plate frame"))
                encoded = time.perf_counter()
                self.timings[number] = {"read+encode": encoded - started}
                self._put(decoded)
        except BaseException as exc:  # handed to the job's thread, which raises it
            self.error = exc
        finally:
            self._put(self._END)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def model_frames(self, pending: queue.SimpleQueue[DecodedFrame]) -> Iterator[ModelFrame]:
        """The engine's input stream; each frame handed over is also queued for writing."""
        while True:
            started = time.perf_counter()
            item = self._queue.get()
            if item is self._END:
                return
            self.wait_seconds[item.number] = time.perf_counter() - started
            if item.state.nonfinite_pixels:
                self.run.emit_warning(
                    f"{item.state.nonfinite_pixels} pixels hold NaN or Inf; they were kept out of "
                    "the engine and come back as they were",
                    item.number,
                )
            with self.run.events:
                self.run.observer.frame_started(self.run.job_id, item.number)
            pending.put(item)
            yield item.model

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
