"""Segments: where the temporal chain of `diffusion-image` starts, fixed in absolute frame numbers.

Cross-frame attention (anchor + previous frame), flow fusion (the warped previous output) and the
colour lock without a style reference make a frame depend on the frames restyled before it. So that
a farm chunk reproduces the unchunked run bit for bit, that dependency is a pure function of the
frame numbers and the job's parameters, never of where the job starts:

- The shot is cut into segments of `segment` frames on a grid counted from `segment_origin`
  (segment k holds frames origin + k*segment ... origin + (k+1)*segment - 1, k may be negative).
- A segment's chain runs over every frame of the segment the plate has, in order, from its first
  one (the anchor of cross-frame attention and, without a style reference, the colour target) and
  restarts at the next segment; batches are cut from the chain's start, `batch` frames at a time.
- A job that starts mid-segment re-runs the segment's frames before its first one (warm-up, read
  with `shot.load_frame`, nothing yielded); a job that ends mid-batch reads the rest of that batch
  (read-ahead), so every batch holds the same frames in every run. A frame the plate lacks (file
  missing) is simply not part of the chain.

With the layers that link frames off (no cross-frame attention, no flow fusion, a colour lock that
has a reference or is off) frames depend on their batch-mates only (rounding), so the grid's length
is the batch itself: no warm-up at batch 1. Pure Python: no torch here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from stylelock.core.errors import FramesMissingError
from stylelock.server.engines.base import ModelFrame, ShotContext

Batch = list[tuple[ModelFrame, bool]]
"""Frames to sample together, each with whether the job wants it (False: warm-up or read-ahead)."""


@dataclass(frozen=True)
class Grid:
    """Segments of `length` frames counted from `origin`, in absolute frame numbers."""

    length: int
    origin: int

    def start(self, number: int) -> int:
        """First frame number of the segment holding `number`."""
        return number - (number - self.origin) % self.length

    def end(self, number: int) -> int:
        """One past the last frame number of the segment holding `number`."""
        return self.start(number) + self.length

    def on_grid(self, number: int) -> bool:
        return (number - self.origin) % self.length == 0


def chain_grid(params: Mapping[str, Any], has_reference: bool) -> Grid | None:
    """The grid the chain of a `diffusion-image` job restarts on; None for `segment=0` (one chain
    from the job's first frame: the behaviour before segments, not chunk-invariant)."""
    length = int(params["segment"])
    if length <= 0:
        return None
    linked = (
        params["cross_frame_attention"]
        or params["flow_fusion"]
        or (params["colour_lock"] and params["colour_lock_strength"] > 0 and not has_reference)
    )
    return Grid(length if linked else int(params["batch"]), int(params["segment_origin"]))


class Reads:
    """Reads plate frames besides the job's own (warm-up and read-ahead) and counts them for the log.

    A frame the plate does not have on disk (`ShotContext.plate_frames`) is None; a frame that is
    there but fails to load raises, as it would in the job itself. Without a known plate (a context
    built by hand) a missing file is learned by trying to read it.
    """

    def __init__(self, shot: ShotContext) -> None:
        self.load = shot.load_frame
        self.present = frozenset(shot.plate_frames) if shot.plate_frames else None
        self.frames = 0

    def __call__(self, number: int) -> ModelFrame | None:
        if self.present is not None and number not in self.present:
            return None
        try:
            frame = self.load(number)
        except FramesMissingError:
            if self.present is not None:
                raise
            return None
        self.frames += 1
        return frame


Read = Callable[[int], ModelFrame | None]


def chain_batches(
    frames: Iterator[ModelFrame], grid: Grid, size: Callable[[], int], read: Read
) -> Iterator[tuple[bool, Batch]]:
    """(fresh, batch) for the wanted `frames`, in order: `fresh` when the batch starts a new chain.

    `size()` is read for every batch (running out of memory lowers it). A wanted frame that is not
    after the chain's last frame in the same segment restarts that segment's chain.
    """
    batch: Batch = []
    fresh = False
    start: int | None = None
    last = 0

    def full() -> bool:
        return len(batch) >= max(1, size())

    for frame in frames:
        number = frame.number
        if grid.start(number) != start or number <= last:
            if batch:
                last = _read_ahead(batch, last, grid.end(last), size, read)
                yield fresh, batch
                batch = []
            start, last, fresh = grid.start(number), grid.start(number) - 1, True
        for between in range(last + 1, number):
            warm = read(between)
            if warm is not None:
                batch.append((warm, False))
                if full():
                    yield fresh, batch
                    batch, fresh = [], False
        batch.append((frame, True))
        last = number
        if full():
            yield fresh, batch
            batch, fresh = [], False
    if batch:
        _read_ahead(batch, last, grid.end(last), size, read)
        yield fresh, batch


def _read_ahead(batch: Batch, last: int, end: int, size: Callable[[], int], read: Read) -> int:
    """Complete a batch cut short by the job's end with the segment's next frames; the new last."""
    for number in range(last + 1, end):
        if len(batch) >= max(1, size()):
            break
        frame = read(number)
        if frame is not None:
            batch.append((frame, False))
        last = number
    return last
