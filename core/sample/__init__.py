"""`stylelock sample`: a synthetic EXR plate that behaves like a real one, and the demo's paint-over.

The plate (`write_sample_plate`) is rendered by `stylelock.core.sample.scene` and written through
`stylelock.core.exr`, one file per frame, as a renderer or a scan would deliver it:

- ``R G B A`` half float, scene-linear (ACEScg-like primaries and levels: the ground sits near 0.1,
  clouds near 1, the sun's core in the thousands, the ball's specular highlight near 100-180),
  RGB premultiplied by a soft alpha (a semi-transparent sky, antialiased and feathered edges, a
  translucent leaf);
- ``depth.Z`` float32: the camera distance each layer is projected with (1.4 to 40);
- ``forward.u forward.v backward.u backward.v`` float32: the exact motion of every pixel towards
  the next and the previous frame, in pixels, Nuke's convention (``v`` points up);
- a data window 5% larger than the display window on every side (overscan, negative origin);
- ZIP compression, and header attributes saying what the file is.

The paint-over stand-in for `stylelock demo` is `paint_keyframe` (`stylelock.core.paint`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from stylelock.core.errors import OutputError, SpecError
from stylelock.core.paint import paint_keyframe
from stylelock.core.sample.scene import CHANNELS, render_sample_frame, windows
from stylelock.core.sequence import FramePattern, format_frames, parse_frames

log = logging.getLogger(__name__)

__all__ = ["CHANNELS", "SAMPLE_ATTRIBUTES", "paint_keyframe", "render_sample_frame", "write_sample_plate"]

PATTERN_NAME = "plate.####.exr"

#: Header attributes of every sample frame (the frame number is added per file).
SAMPLE_ATTRIBUTES: dict[str, str] = {
    "stylelock:sample": "synthetic plate v1 (stylelock.core.sample)",
    "stylelock:colorspace": "ACEScg (scene-linear), RGB premultiplied by A",
    "stylelock:vectors": "forward/backward .u/.v in pixels towards frame+1/frame-1, v up (Nuke)",
}

_HALF = ("R", "G", "B", "A")


def write_sample_plate(
    folder: str | os.PathLike[str],
    frames: Iterable[int] | str = range(1001, 1025),
    width: int = 480,
    height: int = 270,
) -> str:
    """Write the sample plate into `folder` (created if needed); return its pattern ``folder/plate.####.exr``.

    Deterministic: the same frame and size give identical bytes, whichever frames are written with
    it. `width` and `height` are the display size; the data window adds 5% overscan on each side.
    """
    from stylelock.core.exr import ExrImage, ExrPart, Window, write_exr

    wanted = parse_frames(frames)
    if width < 16 or height < 16 or width > 16384 or height > 16384:
        raise SpecError(f"sample plate size {width}x{height} must be between 16x16 and 16384x16384")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the sample folder {os.fspath(folder)!r}: {exc.strerror}") from None
    pattern = FramePattern.parse(os.path.join(os.fspath(folder), PATTERN_NAME))
    data, display = windows(width, height)
    for frame in wanted:
        channels = render_sample_frame(frame, width, height)
        pixels = {
            name: channels[name].astype(np.float16 if name in _HALF else np.float32) for name in CHANNELS
        }
        part = ExrPart(
            channels=list(CHANNELS),
            pixels=pixels,
            data_window=Window(*data),
            display_window=Window(*display),
            pixel_aspect=1.0,
            compression="zip",
            tile_size=None,
            attributes={**SAMPLE_ATTRIBUTES, "stylelock:frame": str(frame)},
        )
        write_exr(pattern.path(frame), ExrImage(parts=[part]))
    log.info("sample plate %s frames %s (%dx%d)", pattern.pattern, format_frames(wanted), width, height)
    return pattern.pattern
