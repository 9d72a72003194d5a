"""The `keyframe_every N` hybrid: diffusion paints every Nth frame, the keyframe engine carries the rest.

Keyframes are the frames at positions 0, N, 2N, ... of the job (and its last frame, so every frame
has a keyframe on both sides). Each keyframe is restyled by the diffusion job with its temporal layers
(the motion tracker sees every frame, so fusion chains the motion across the frames in between);
the frames between two keyframes are handed to the `keyframe` engine as a segment whose two painted
keyframes are those diffusion outputs. Frames stream: at most N frames are held.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import chain
from typing import NamedTuple

import numpy as np

from stylelock.server.engines.base import ModelFrame, ShotContext, StyleFrame
from stylelock.server.engines.diffusion.image_job import Cancelled, ImageJob


class Key(NamedTuple):
    """A keyframe of the hybrid: its plate and what diffusion painted on it."""

    plate: ModelFrame
    painted: StyleFrame


def restyle_hybrid(
    job: ImageJob, shot: ShotContext, first: ModelFrame, frames: Iterator[ModelFrame], device: str
) -> Iterator[np.ndarray]:
    from stylelock.server.engines.keyframe import PARAMS as KEYFRAME_PARAMS
    from stylelock.server.engines.keyframe import KeyframeEngine

    every = int(shot.params["keyframe_every"])
    carrier = KeyframeEngine(device=device)
    carry_params = KEYFRAME_PARAMS.defaults()
    carry_params["seed"] = int(shot.params["seed"]) % 2**31
    positions = {number: i for i, number in enumerate(shot.frames)}

    def paint(frame: ModelFrame) -> Key:
        styled = job.run([frame])[0]
        painted = StyleFrame(rgb=styled, alpha=None, frame=frame.number, digest=f"diffusion:{frame.number}")
        return Key(frame, painted)

    def carry(between: list[ModelFrame], before: Key | None, after: Key) -> Iterator[np.ndarray]:
        keys = (after,) if before is None else (before, after)
        # The segment's plates are all in memory: the carrier reads them from here, not from disk.
        local = {frame.number: frame for frame in between} | {k.plate.number: k.plate for k in keys}
        segment = replace(
            shot,
            frames=tuple(sorted(local)),
            styles=tuple(k.painted for k in keys),
            params=carry_params,
            guides={},
            load_frame=lambda number: local[number] if number in local else shot.load_frame(number),
        )
        return carrier.restyle(segment, iter(between))

    previous: Key | None = None
    between: list[ModelFrame] = []
    for index, frame in enumerate(chain([first], frames)):
        if shot.is_cancelled():
            return
        job.observe(frame)
        if positions.get(frame.number, index) % every:
            between.append(frame)
            continue
        key = paint(frame)
        if between:  # (with no previous keyframe: a chunk that starts between two keyframes)
            yield from _checked(carry(between, previous, key), len(between))
        between = []
        yield key.painted.rgb
        previous = key
    if between and not shot.is_cancelled():
        last = paint(between.pop())
        if between:
            yield from _checked(carry(between, previous, last), len(between))
        yield last.painted.rgb


def _checked(outputs: Iterator[np.ndarray], count: int) -> Iterator[np.ndarray]:
    """Pass the carried frames on; stop the job quietly if the carrier stopped early (cancelled)."""
    done = 0
    for image in outputs:
        done += 1
        yield image
    if done < count:
        raise Cancelled
