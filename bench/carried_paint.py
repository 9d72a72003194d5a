"""The painted keyframe carried along the plate's motion alone: the keyframe QC bench's reference.

No synthesis at all: each pixel of each frame takes the paint at its surface point in the keyframe,
found by chaining the plate's motion back to the keyframe frame by frame (positions are chained,
the paint is resampled once, from the keyframe, with the Lanczos kernel QC's own carried-paint
texture figure samples with). Background a moving object uncovers continues its own layer's
positions, as in the engine (which, on the plate's vectors, also re-paints a band behind the
object's edge; here that band is carried like the rest), so it takes whatever the keyframe showed
there, often the object's own paint, and the invented-structure measure counts that. Positions
that leave the keyframe (a camera move, a layer continued past the keyframe's edge) sample its
edge pixels. The motion is the engine's at its defaults: the plate's vectors where both frames of
a pair carry them, else OpenCV DIS.

What it is for: on the surfaces the keyframe saw, a figure the engine cannot beat by following the
plate's motion more faithfully. Where even the carried paint misses a bar (QC's bilinear warp
resampling crisp paint that moves by fractions of a pixel; a push-in spreading the brushwork over
more pixels), the bar measures more than the engine's carrying; where the engine is worse than the
carried paint there, its synthesis added the difference.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stylelock.core.colour import ModelSpaceCodec, resolve_config
from stylelock.core.errors import SpecError
from stylelock.core.exr import write_exr
from stylelock.core.flow import carry_positions, fill_from_layer, revealed_mask
from stylelock.core.metrics.invented import _resample as lanczos  # QC's own carried-paint sampling
from stylelock.core.sequence import FramePattern, parse_frames
from stylelock.server.engines.keyframe import PARAMS
from stylelock.server.engines.keyframe.flowsrc import FlowProvider
from stylelock.server.frames import FrameCodec


def carry_paint(plate: str, painted: str, frames: str, out_pattern: str) -> None:
    """Write the paint of ``painted`` (over the first of ``frames``) carried through the rest of
    ``frames`` of ``plate`` to ``out_pattern``, as the engine's output would be written."""
    numbers = parse_frames(frames)
    if numbers != list(range(numbers[0], numbers[-1] + 1)):
        raise SpecError(f"carried paint: frames {frames} are not one unbroken range (the motion is chained)")
    codec = FrameCodec(ModelSpaceCodec(resolve_config(None)))
    source, target = FramePattern.parse(plate), FramePattern.parse(out_pattern)
    defaults = PARAMS.defaults()
    flows = FlowProvider(defaults["flow"], defaults["flow_preset"], logging.getLogger("bench.carried_paint"))
    previous = codec.decode_file(numbers[0], source.path(numbers[0]))
    paint = np.clip(codec.decode_file(numbers[0], painted).model.rgb, 0.0, 1.0).astype(np.float32)
    h, w = paint.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    positions = np.stack([xs, ys], axis=-1)
    Path(target.path(numbers[0])).parent.mkdir(parents=True, exist_ok=True)
    write_exr(target.path(numbers[0]), codec.encode_result(previous, paint))
    for number in numbers[1:]:
        frame = codec.decode_file(number, source.path(number))
        ahead, back = flows.pair(previous.model, frame.model)
        positions = carry_positions(positions, back)
        uncovered = revealed_mask(ahead, back)
        if uncovered.any():
            (positions,) = fill_from_layer([positions], uncovered, back, smooth=True)
        write_exr(target.path(number), codec.encode_result(frame, lanczos(paint, positions)))
        previous = frame
