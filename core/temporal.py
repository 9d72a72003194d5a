"""The keyframe engine's temporal contract, as pure bookkeeping (no numpy, nothing decoded).

An output frame depends on the plate frames from its governing keyframe before it to its governing
keyframe after it (`run.KeyframeRun` carries paint forward from the one and backward from the
other), and a keyframe's own output on its paint alone. Resume keys and chunk warm-up follow this.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any


def keyframe_numbers(
    style_frames: Sequence[int | None], plate_frames: Sequence[int], params: Mapping[str, Any]
):
    """The frames paint is carried from: the painted ones, else the look image's frame."""
    painted = sorted({f for f in style_frames if f is not None})
    if painted or not style_frames:
        return painted
    anchor = int(params.get("look_frame", -1))
    if anchor == -1:
        if not plate_frames:
            return []
        anchor = plate_frames[0]
    return [anchor]


def governing_keyframes(frame: int, keys: Sequence[int], blend: str) -> tuple[int | None, int | None]:
    """The keyframes whose passes make `frame`: the nearest before and after it (`nearest` keeps one)."""
    i = bisect.bisect_left(keys, frame)
    before = keys[i - 1] if i > 0 else None
    after = keys[i] if i < len(keys) else None
    if before is not None and after is not None and blend == "nearest":
        if frame - before <= after - frame:
            after = None
        else:
            before = None
    return before, after


def frame_inputs(
    frame: int, plate_frames: Sequence[int], style_frames: Sequence[int | None], params: Mapping[str, Any]
) -> list[int]:
    """Plate frames whose content decides output `frame`."""
    keys = keyframe_numbers(style_frames, plate_frames, params)
    if frame in keys or not keys:
        return [frame]
    before, after = governing_keyframes(frame, keys, str(params.get("blend", "poisson")))
    low = before if before is not None else frame
    high = after if after is not None else frame
    on_disk = set(plate_frames)
    return [f for f in range(low, high + 1) if f in on_disk or f == frame]
