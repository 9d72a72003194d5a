"""The `passthrough` engine: returns model-space frames unchanged.

It is the honest proof that decoding, colour encoding, transport and re-encoding are lossless:
anything a restyle changes beyond the paint itself shows up as a difference against the plate.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from stylelock.core.temporal import FRAME
from stylelock.server.engines.base import Engine, ModelFrame, ShotContext


class PassthroughEngine(Engine):
    name = "passthrough"
    summary = "Returns the frames unchanged: proves the colour and transport round trip is lossless."
    temporal = FRAME

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        for frame in frames:
            if shot.is_cancelled():
                return
            yield frame.rgb
