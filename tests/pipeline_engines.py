"""Small engines for pipeline tests: they change pixels in known ways, fast."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from stylelock.core.params import ParamSchema, ParamSpec
from stylelock.server.engines.base import Engine, ModelFrame, ShotContext


class InvertEngine(Engine):
    """Inverts model-space RGB: every pixel changes, so masks and proxies show."""

    name = "test-invert"
    summary = "inverts the picture"
    params = ParamSchema(
        (ParamSpec("gain", "float", 1.0, "scale after inverting", minimum=0.0, maximum=2.0),)
    )

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        for frame in frames:
            if shot.is_cancelled():
                return
            yield np.clip((1.0 - frame.rgb) * shot.params["gain"], 0.0, 1.0)


class BatchingEngine(Engine):
    """Reads three frames before yielding any, as windowed engines do."""

    name = "test-batching"
    summary = "yields in batches of three"

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        batch: list[np.ndarray] = []
        for frame in frames:
            batch.append(frame.rgb)
            if len(batch) == 3:
                yield from batch
                batch = []
        yield from batch


class ShortEngine(Engine):
    """A broken engine that drops the last frame."""

    name = "test-short"
    summary = "forgets a frame"

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        frames_list = list(frames)
        for frame in frames_list[:-1]:
            yield frame.rgb


class CountingEngine(Engine):
    """Records, for each frame it receives, how many frames the pipeline had decoded by then."""

    name = "test-counting"
    summary = "observes read-ahead"
    decoded = 0
    seen: ClassVar[list[tuple[int, int]]] = []

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        import time

        for index, frame in enumerate(frames):
            time.sleep(0.05)  # slower than reading: the reader runs ahead as far as it may
            CountingEngine.seen.append((index + 1, CountingEngine.decoded))
            yield frame.rgb


class SlowEngine(Engine):
    """Passthrough that takes `delay` seconds a frame and finishes the frame in hand when
    cancelled: time to cancel, interrupt or interleave."""

    name = "test-slow"
    summary = "passthrough with a delay per frame"
    params = ParamSchema((ParamSpec("delay", "float", 0.1, "seconds per frame", minimum=0.0, maximum=10.0),))

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        import time

        for frame in frames:
            if shot.is_cancelled():
                return
            time.sleep(float(shot.params["delay"]))
            yield frame.rgb


class HalveEngine(Engine):
    """Halves every model-space value: a change known exactly (a power of two) and exactly invertible,
    so what comes back proves the inverse colour transform (see `colour_reference`)."""

    name = "test-halve"
    summary = "halves the model-space picture"

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        for frame in frames:
            yield frame.rgb * np.float32(0.5)


class IdentityCopyEngine(Engine):
    """Returns every frame unchanged, as a new array: the plate must come back bit for bit without
    the engine handing back the very array it was given."""

    name = "test-identity-copy"
    summary = "returns a copy of each frame"

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        for frame in frames:
            yield np.array(frame.rgb, copy=True)
