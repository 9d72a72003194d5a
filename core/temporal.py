"""Engines' temporal contracts: which plate frames decide an output frame, known before any decoding.

An engine declares one of these kinds (`Engine.temporal`, published by the server with its schema):

- `frame`: an output frame is made from its own plate frame alone (`passthrough`).
- `keyframes`: from the plate frames between its governing keyframes, the nearest painted frame
  before and after it (`keyframe`: paint is carried forward from the one and backward from the
  other; `blend=nearest` keeps one side); a keyframe's own output from its paint alone. A look
  image is carried from the frame it is transferred onto (`look_frame`, default the plate's first).
- `shot`: from the whole shot (engines that measure shot-wide quantities; the safe default).

The server's resume keys follow the contract (`stylelock.server.resume`), and hosts use it to
render exactly the plate frames a job will read (`job_inputs`). Only the standard library here.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
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


FRAME = "frame"
KEYFRAMES = "keyframes"
SHOT = "shot"
KINDS = (FRAME, KEYFRAMES, SHOT)


def frame_inputs(
    kind: str,
    frame: int,
    plate_frames: Sequence[int],
    style_frames: Sequence[int | None],
    params: Mapping[str, Any],
) -> list[int]:
    """Plate frames whose content decides output `frame` under the contract `kind` (ascending)."""
    if kind == FRAME:
        return [frame]
    if kind != KEYFRAMES:
        return sorted(set(plate_frames) | {frame})
    keys = keyframe_numbers(style_frames, plate_frames, params)
    if frame in keys or not keys:
        return [frame]
    before, after = governing_keyframes(frame, keys, str(params.get("blend", "poisson")))
    low = before if before is not None else frame
    high = after if after is not None else frame
    return list(range(low, high + 1))  # every frame between: paint is carried one frame at a time


def job_inputs(
    kind: str,
    frames: Iterable[int],
    plate_frames: Sequence[int],
    style_frames: Sequence[int | None],
    params: Mapping[str, Any],
) -> list[int]:
    """Every plate frame a job making `frames` reads: what a host must have rendered first."""
    needed: set[int] = set()
    for frame in frames:
        needed.update(frame_inputs(kind, frame, plate_frames, style_frames, params))
    return sorted(needed)
