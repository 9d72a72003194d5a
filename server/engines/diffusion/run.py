"""Driving a `diffusion-image` job: segments and batches of frames, cancellation, the keyframe hybrid.

Imported at run time only. One diffusion job runs at a time in a process (they share the resident
pipelines and their attention processors); a second waits for the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import chain, islice

import numpy as np

from stylelock.server.engines.base import ModelFrame, ShotContext
from stylelock.server.engines.diffusion.image_job import Cancelled, ImageJob
from stylelock.server.engines.diffusion.library import ModelLibrary
from stylelock.server.engines.diffusion.segments import Grid, Reads, chain_batches, chain_grid

#: Not an RLock: a job's generator may be finished (closed) by another thread than the one that began it.
RUN_LOCK = threading.Lock()


def begin(
    shot: ShotContext, frames: Iterator[ModelFrame], device: str
) -> tuple[str, ModelFrame, Iterator[ModelFrame]] | None:
    """The resolved device, the first frame and the rest; None when there is nothing to do."""
    from stylelock.server.engines.diffusion.loading import resolve_device

    frames = iter(frames)
    first = next(frames, None)
    if first is None or shot.is_cancelled():
        return None
    return resolve_device(device), first, frames


def restyle_image(
    shot: ShotContext, frames: Iterator[ModelFrame], library: ModelLibrary, device: str
) -> Iterator[np.ndarray]:
    started = begin(shot, frames, device)
    if started is None:
        return
    device, first, frames = started
    with RUN_LOCK:
        job = ImageJob(shot, library, device, first)
        shot.log.info(
            "diffusion-image: %s on %s (%s), batch %d", shot.params["model"], device, job.dtype, job.batch
        )
        with job.attention():
            try:
                if shot.params["keyframe_every"] > 0:
                    from stylelock.server.engines.diffusion.hybrid import restyle_hybrid

                    yield from restyle_hybrid(job, shot, first, frames, device)
                else:
                    grid = chain_grid(shot.params, job.look.style is not None)
                    if grid is None:
                        yield from _batched(job, shot, first, frames)
                    else:
                        yield from _segmented(job, shot, chain([first], frames), grid)
            except Cancelled:
                return


def _segmented(
    job: ImageJob, shot: ShotContext, frames: Iterator[ModelFrame], grid: Grid
) -> Iterator[np.ndarray]:
    """Sample in batches cut from each segment's start; yield the outputs of the wanted frames only."""
    reads = Reads(shot)
    try:
        for fresh, batch in chain_batches(frames, grid, lambda: job.batch, reads):
            if shot.is_cancelled():
                return
            if fresh:
                job.restart()
            outputs = job.run([frame for frame, _ in batch])
            yield from (out for out, (_, wanted) in zip(outputs, batch, strict=True) if wanted)
    finally:
        if reads.frames:
            shot.log.info(
                "diffusion-image: %d frame(s) restyled for warm-up or to fill a batch (segments %d from %d)",
                reads.frames,
                grid.length,
                grid.origin,
            )


def _batched(
    job: ImageJob, shot: ShotContext, first: ModelFrame, frames: Iterator[ModelFrame]
) -> Iterator[np.ndarray]:
    stream = chain([first], frames)
    # job.batch is read for every batch: running out of memory lowers it for the rest of the job.
    while batch := list(islice(stream, job.batch)):
        if shot.is_cancelled():
            return
        yield from job.run(batch)
