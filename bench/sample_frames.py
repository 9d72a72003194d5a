"""The sample plate's frames as an engine sees them, for benchmarks that drive an engine directly.

The plate is written to a temporary folder exactly as `stylelock sample` writes it and decoded by
the server's own frame codec (bundled OCIO config, the engine's model space, the plate's Nuke
motion vectors as AOVs), so a benchmark's engine sees the frames `stylelock restyle` and
`stylelock demo` hand it, cropped to the display window (the plate's overscan left out, so a
1024x576 benchmark runs at 1024x576).
"""

from __future__ import annotations

import dataclasses
import tempfile

import numpy as np

from stylelock.core.colour import ModelSpaceCodec, resolve_config
from stylelock.core.sample import write_sample_plate
from stylelock.core.sample.scene import windows
from stylelock.core.sequence import FramePattern
from stylelock.server.engines.base import ModelFrame
from stylelock.server.frames import FrameCodec

FIRST = 1001


def sample_frames(width: int, height: int, count: int, first: int = FIRST) -> list[ModelFrame]:
    """`count` frames of the sample plate from `first`, at `width` x `height`, in model space."""
    codec = FrameCodec(ModelSpaceCodec(resolve_config(None)))
    numbers = list(range(first, first + count))
    with tempfile.TemporaryDirectory(prefix="stylelock-bench-") as folder:
        plate = write_sample_plate(folder, frames=numbers, width=width, height=height)
        pattern = FramePattern.parse(str(plate))
        frames = [codec.decode_file(n, pattern.path(n)).model for n in numbers]
    (dx, dy, _, _), _ = windows(width, height)
    crop = (slice(-dy, -dy + height), slice(-dx, -dx + width))

    def display(frame: ModelFrame) -> ModelFrame:
        aovs = {name: np.ascontiguousarray(plane[crop]) for name, plane in frame.aovs.items()}
        alpha = None if frame.alpha is None else np.ascontiguousarray(frame.alpha[crop])
        return dataclasses.replace(frame, rgb=np.ascontiguousarray(frame.rgb[crop]), alpha=alpha, aovs=aovs)

    return [display(f) for f in frames]
