"""The sample plate's frames as an engine sees them, for benchmarks that drive an engine directly.

Plain sRGB over the display window (the `srgb` model-space encoding for an in-gamut, [0, 1] plate),
unpremultiplied, with the plate's exact Nuke motion vectors as AOVs.
"""

from __future__ import annotations

import numpy as np

from stylelock.core.sample_scene import render_sample_frame, windows
from stylelock.server.engines.base import ModelFrame

FIRST = 1001
VECTORS = ("forward.u", "forward.v", "backward.u", "backward.v")


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def sample_frames(width: int, height: int, count: int, first: int = FIRST) -> list[ModelFrame]:
    """`count` frames of the sample plate from `first`, at `width` x `height`."""
    (dx, dy, _, _), _ = windows(width, height)
    crop = (slice(-dy, -dy + height), slice(-dx, -dx + width))
    frames = []
    for number in range(first, first + count):
        channels = render_sample_frame(number, width, height)
        alpha = np.maximum(channels["A"][crop], 1e-6)[..., None]
        rgb = np.stack([channels["R"], channels["G"], channels["B"]], axis=-1)[crop] / alpha
        aovs = {name: np.ascontiguousarray(channels[name][crop]) for name in VECTORS}
        frames.append(ModelFrame(number, np.ascontiguousarray(srgb_encode(rgb)), None, aovs, 1.0))
    return frames
