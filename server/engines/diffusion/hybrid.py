"""The `keyframe_every N` hybrid: diffusion paints every Nth frame, the keyframe engine carries the rest.

Keyframes sit on a grid of absolute frame numbers: every frame F with (F - segment_origin) % N == 0,
plus the first frame the plate has in each segment (segments of `segment` frames rounded up to a
multiple of N, so every segment starts on a keyframe) and, where the plate lacks a grid frame (its
end, a hole), the frame before it. Each keyframe is painted by the diffusion job with its temporal
layers, chained within its segment (the motion tracker sees every frame, so fusion chains the motion
across the frames in between); the chain restarts at each segment, whose first keyframe depends on
nothing before it. The frames between two keyframes go to the `keyframe` engine with those two
painted keyframes, across a segment boundary too. A job that starts mid-segment reads the segment's
plates from its start and repaints its keyframes (nothing yielded); one that ends between two
keyframes reads on to the next one: so a chunk matches the unchunked run. Frames stream: at most N
frames are held. With `segment=0` the keyframes are the job's positions 0, N, 2N, ... and its last
frame instead (chunks then differ).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import chain
from typing import NamedTuple

import numpy as np

from stylelock.server.engines.base import ModelFrame, ShotContext, StyleFrame
from stylelock.server.engines.diffusion.image_job import Cancelled, ImageJob
from stylelock.server.engines.diffusion.segments import Grid, Reads


class Key(NamedTuple):
    """A keyframe of the hybrid: its plate and what diffusion painted on it."""

    plate: ModelFrame
    painted: StyleFrame


Carry = Callable[[list[tuple[ModelFrame, bool]], Key | None, Key], Iterator[np.ndarray]]
"""carry(frames between two keys with whether each is wanted, key before, key after)."""


def restyle_hybrid(
    job: ImageJob, shot: ShotContext, first: ModelFrame, frames: Iterator[ModelFrame], device: str
) -> Iterator[np.ndarray]:
    from stylelock.server.engines.keyframe import PARAMS as KEYFRAME_PARAMS
    from stylelock.server.engines.keyframe import KeyframeEngine

    carrier = KeyframeEngine(device=device)
    carry_params = KEYFRAME_PARAMS.defaults()
    carry_params["seed"] = int(shot.params["seed"]) % 2**31

    def carry(between: list[tuple[ModelFrame, bool]], before: Key | None, after: Key) -> Iterator[np.ndarray]:
        """The carried outputs of the wanted frames of `between` (all plates between the two keys)."""
        wanted = [frame for frame, want in between if want]
        if not wanted:
            return iter(())
        keys = (after,) if before is None else (before, after)
        # The segment's plates are all in memory: the carrier reads them from here, not from disk.
        local = {frame.number: frame for frame, _ in between} | {k.plate.number: k.plate for k in keys}
        segment = replace(
            shot,
            frames=tuple(frame.number for frame in wanted),
            styles=tuple(k.painted for k in keys),
            params=carry_params,
            guides={},
            load_frame=lambda number: local[number] if number in local else shot.load_frame(number),
        )
        return _checked(carrier.restyle(segment, iter(wanted)), len(wanted))

    stream = chain([first], frames)
    if int(shot.params["segment"]) > 0:
        yield from _on_grid(job, shot, stream, carry)
    else:
        yield from _by_position(job, shot, stream, carry)


def paint(job: ImageJob, frame: ModelFrame) -> Key:
    styled = job.run([frame])[0]
    painted = StyleFrame(rgb=styled, alpha=None, frame=frame.number, digest=f"diffusion:{frame.number}")
    return Key(frame, painted)


def _on_grid(
    job: ImageJob, shot: ShotContext, stream: Iterator[ModelFrame], carry: Carry
) -> Iterator[np.ndarray]:
    """Keyframes on a grid of absolute frame numbers (see the module docstring): chunk-invariant."""
    every, origin = int(shot.params["keyframe_every"]), int(shot.params["segment_origin"])
    keys = Grid(every, origin)
    segments = Grid(-(-int(shot.params["segment"]) // every) * every, origin)
    reads = Reads(shot)
    start: int | None = None  # the segment of the chain being painted
    cursor = 0  # the last frame number walked
    previous: Key | None = None
    between: list[tuple[ModelFrame, bool]] = []

    def visit(number: int, frame: ModelFrame | None, wanted: bool) -> Iterator[np.ndarray]:
        nonlocal start, cursor, previous, between
        cursor = number
        if frame is None:  # the plate lacks this frame: on the key grid, the frame before it is a key
            if keys.on_grid(number) and between:
                last, want = between.pop()
                yield from close(paint(job, last), want)
            return
        chain_start = segments.start(number) != start
        if chain_start:
            start = segments.start(number)
            job.restart()
        if chain_start or keys.on_grid(number):
            yield from close(paint(job, frame), wanted)
        else:
            job.observe(frame)
            between.append((frame, wanted))

    def close(key: Key, wanted: bool) -> Iterator[np.ndarray]:
        nonlocal previous, between
        yield from carry(between, previous, key)
        if wanted:
            yield key.painted.rgb
        previous, between = key, []

    def finish() -> Iterator[np.ndarray]:
        """Walk on to the next keyframe while carried frames wait for it."""
        while any(want for _, want in between) and not shot.is_cancelled():
            yield from visit(cursor + 1, reads(cursor + 1), False)

    for frame in stream:
        if shot.is_cancelled():
            return
        number = frame.number
        if start is None or number <= cursor or segments.start(number) > cursor + 1:
            yield from finish()  # then jump: re-run the frame's segment from its start (fewer reads)
            start, cursor, previous, between = None, segments.start(number) - 1, None, []
        while cursor + 1 < number:
            yield from visit(cursor + 1, reads(cursor + 1), False)
        yield from visit(number, frame, True)
    yield from finish()
    if reads.frames:
        shot.log.info("diffusion-image: %d plate frame(s) read to warm up keyframes", reads.frames)


def _by_position(
    job: ImageJob, shot: ShotContext, stream: Iterator[ModelFrame], carry: Carry
) -> Iterator[np.ndarray]:
    """`segment=0`: keyframes at positions 0, N, 2N, ... of the job and its last frame."""
    every = int(shot.params["keyframe_every"])
    positions = {number: i for i, number in enumerate(shot.frames)}
    previous: Key | None = None
    between: list[tuple[ModelFrame, bool]] = []
    for index, frame in enumerate(stream):
        if shot.is_cancelled():
            return
        job.observe(frame)
        if positions.get(frame.number, index) % every:
            between.append((frame, True))
            continue
        key = paint(job, frame)
        yield from carry(between, previous, key)  # (with no previous key: a chunk between two keys)
        between = []
        yield key.painted.rgb
        previous = key
    if between and not shot.is_cancelled():
        last = paint(job, between.pop()[0])
        yield from carry(between, previous, last)
        yield last.painted.rgb


def _checked(outputs: Iterator[np.ndarray], count: int) -> Iterator[np.ndarray]:
    """Pass the carried frames on; stop the job quietly if the carrier stopped early (cancelled)."""
    done = 0
    for image in outputs:
        done += 1
        yield image
    if done < count:
        raise Cancelled
