"""Frame sequences: frame-range expressions and sequence path patterns, read with `fileseq`.

Ranges are the ones every VFX tool writes: ``1001-1100``, ``1001-1100x2``, ``1001,1005,1010-1020``,
``1001``. OpenJD and Deadline write a step as ``1001-1100:2``; fileseq reads ``:`` as a "staggered"
order of every frame, so we read ``a-b:N`` as the step the farm means.

Patterns follow Nuke and Houdini: ``plate.####.exr`` (one ``#`` per digit, fileseq's
``PAD_STYLE_HASH1``; fileseq's default would read ``#`` as four digits), ``plate.%04d.exr``,
``plate.@@@@.exr``, ``plate.$F4.exr``. The padding is a minimum width as in printf: frame 12345 of a
four-digit pattern is ``12345`` and frame -5 is ``-005``.
"""

from __future__ import annotations

import glob
import logging
import operator
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import fileseq

from stylelock.core.errors import FramesMissingError, SpecError

log = logging.getLogger(__name__)

__all__ = [
    "FramePattern",
    "format_frames",
    "parse_frames",
    "resolve_plate",
]

#: A padding token fileseq understood that we also accept (``<UDIM>`` is a tile, not a frame;
#: ``%4d`` pads with spaces in printf, which no plate uses).
_PAD_TOKEN = re.compile(r"#+|@+|%(?:0\d+)?d|\$F\d*")
_OPENJD_STEP = re.compile(r"(-?\d+)-(-?\d+):(\d+)")
_FRAME_DIGITS = re.compile(r"-?\d+")
_PATTERN_HELP = "plate.####.exr, plate.%04d.exr, plate.@@@@.exr or plate.$F4.exr"
_RANGE_HELP = "examples: 1001-1100, 1001-1100x2, 1001,1005,1010-1020"


def parse_frames(expr: str | Iterable[int]) -> list[int]:
    """Return the frames of a range expression, ascending and without repeats.

    `expr` may also be an iterable of frame numbers (a host that already holds a list). Raises
    `SpecError` naming the text for an empty, malformed or sub-frame expression.
    """
    if not isinstance(expr, str):
        try:
            frames = sorted({operator.index(f) for f in expr})
        except TypeError:
            raise SpecError(f"frames must be whole numbers, got {expr!r}") from None
        if not frames:
            raise SpecError("the frame list is empty")
        return frames
    text = re.sub(r"\s+", "", expr)
    if not text:
        raise SpecError(f"frame range {expr!r} is empty ({_RANGE_HELP})")
    chunks = [_OPENJD_STEP.sub(r"\1-\2x\3", chunk) for chunk in text.split(",")]
    if any(chunk == "" for chunk in chunks):
        raise SpecError(f"frame range {expr!r} has an empty item between commas")
    try:
        frame_set = fileseq.FrameSet(",".join(chunks))
        values = list(frame_set)
    except fileseq.MaxSizeException:
        raise SpecError(f"frame range {expr!r} has too many frames") from None
    except (fileseq.ParseException, ValueError, TypeError):
        raise SpecError(f"frame range {expr!r} is not a frame range ({_RANGE_HELP})") from None
    if any(int(v) != v for v in values):
        raise SpecError(f"frame range {expr!r} has sub-frames; only whole frames are supported")
    frames = sorted({int(v) for v in values})
    if not frames:
        raise SpecError(f"frame range {expr!r} selects no frames")
    return frames


_SIMPLE_CHUNK = re.compile(r"^(-?\d+)(?:-(-?\d+)(?:[x:](\d+))?)?$")
_RANGE_START = re.compile(r"^(-?\d+)-(-?\d+)")


def frame_count_bound(expr: str) -> int:
    """How many frames `expr` selects at most, computed without listing them (a server checks this
    against its limit before `parse_frames` would build a list of ten million frames)."""
    total = 0
    for chunk in re.sub(r"\s+", "", expr).split(","):
        simple = _SIMPLE_CHUNK.match(chunk)
        if simple:
            first, last, step = simple.group(1), simple.group(2), simple.group(3)
            span = abs(int(last) - int(first)) + 1 if last is not None else 1
            total += (span - 1) // max(int(step or 1), 1) + 1
            continue
        ranged = _RANGE_START.match(chunk)
        total += abs(int(ranged.group(2)) - int(ranged.group(1))) + 1 if ranged else 1
    return total


def format_frames(frames: Sequence[int] | Iterable[int]) -> str:
    """Return the most compact range expression of `frames` (``1001-1024``, ``1-9x2,20``); '' if none."""
    unique = sorted({operator.index(f) for f in frames})
    if not unique:
        return ""
    return fileseq.framesToFrameRange(unique, compress=True)


def _abbreviate(expr: str, max_items: int = 8, sep: str = ", ") -> str:
    """Shorten a long range expression for a one-line message: the first items, then a count."""
    items = expr.split(",")
    if len(items) <= max_items:
        return sep.join(items)
    return sep.join(items[:max_items]) + f"{sep}... ({len(items) - max_items} more runs)"


@dataclass(frozen=True)
class FramePattern:
    """A sequence path pattern such as ``/shots/sh010/plate.####.exr``.

    Built from the pattern text alone (no disk access); construction raises `SpecError` when the
    text has no single frame token. Equality and hashing use the text as given.
    """

    pattern: str
    _head: str = field(init=False, repr=False, compare=False)
    _tail: str = field(init=False, repr=False, compare=False)
    _pad: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern:
            raise SpecError(f"sequence pattern {self.pattern!r} is empty; use {_PATTERN_HELP}")
        try:
            seq = fileseq.FileSequence(self.pattern, pad_style=fileseq.PAD_STYLE_HASH1)
        except fileseq.FileSeqException:
            raise SpecError(f"cannot read sequence pattern {self.pattern!r}; use {_PATTERN_HELP}") from None
        padding = seq.padding()
        if seq.frameSet() is not None:
            raise SpecError(
                f"sequence pattern {self.pattern!r} names frames ({seq.frameSet()!s}); give the pattern "
                f"with a frame token ({_PATTERN_HELP}) and the frames separately"
            )
        if not padding or not _PAD_TOKEN.fullmatch(padding):
            raise SpecError(f"sequence pattern {self.pattern!r} has no frame token; use {_PATTERN_HELP}")
        object.__setattr__(self, "_head", seq.dirname() + seq.basename())
        object.__setattr__(self, "_tail", seq.extension())
        object.__setattr__(self, "_pad", max(1, seq.zfill()))

    @classmethod
    def parse(cls, pattern: str) -> FramePattern:
        """Read `pattern`; `SpecError` if it has no frame token."""
        return cls(pattern)

    @property
    def padding(self) -> int:
        """Minimum number of digits of a frame number (1 for ``#``, ``%d`` and ``$F``)."""
        return self._pad

    @property
    def dirname(self) -> str:
        """The folder part of the pattern ('' for a bare file name)."""
        return os.path.dirname(self._head)

    def path(self, frame: int) -> str:
        """Path of one frame, zero-padded to the pattern's width (``-005`` for -5 with ``####``)."""
        return f"{self._head}{operator.index(frame):0{self._pad}d}{self._tail}"

    def to_printf(self) -> str:
        """The pattern in printf form, as Nuke's Read node writes it: ``plate.%04d.exr``."""
        token = "%d" if self._pad == 1 else f"%0{self._pad}d"
        return f"{self._head}{token}{self._tail}"

    def to_hashes(self) -> str:
        """The pattern with one ``#`` per digit, as Blender and Nuke write it: ``plate.####.exr``."""
        return f"{self._head}{'#' * self._pad}{self._tail}"

    def glob_hint(self) -> str:
        """A shell glob that matches every frame of the sequence (and perhaps a few other files)."""
        return f"{glob.escape(self._head)}*{glob.escape(self._tail)}"

    def existing_frames(self) -> list[int]:
        """Frames of this sequence present on disk as files, ascending.

        A file counts only if its name is exactly what `path` makes for its frame, so
        ``plate.01001.exr`` is not frame 1001 of ``plate.####.exr``.
        """
        folder = self.dirname or "."
        prefix = os.path.basename(self._head)
        frames: list[int] = []
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return []
        for entry in entries:
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(self._tail)):
                continue
            digits = name[len(prefix) : len(name) - len(self._tail)]
            if not _FRAME_DIGITS.fullmatch(digits):
                continue
            frame = int(digits)
            if f"{frame:0{self._pad}d}" == digits and entry.is_file():
                frames.append(frame)
        return sorted(frames)

    def __str__(self) -> str:
        return self.pattern


def resolve_plate(pattern: str | FramePattern, frames: str | Iterable[int]) -> list[tuple[int, str]]:
    """Return ``(frame, path)`` for every requested frame, after checking that every one exists.

    Raises `SpecError` for a bad pattern or range, and `FramesMissingError` when any frame is not
    a file on disk, with a one-line message naming the pattern, how many frames are missing, which
    ones (compactly) and what is on disk. The error carries ``missing`` and ``pattern`` attributes.
    """
    seq = pattern if isinstance(pattern, FramePattern) else FramePattern.parse(pattern)
    wanted = parse_frames(frames)
    plate = [(frame, seq.path(frame)) for frame in wanted]
    missing = [frame for frame, path in plate if not os.path.isfile(path)]
    if missing:
        raise _missing_error(seq, wanted, missing)
    log.debug("plate %s: %d frames %s present", seq.pattern, len(wanted), format_frames(wanted))
    return plate


def _missing_error(seq: FramePattern, wanted: list[int], missing: list[int]) -> FramesMissingError:
    requested = _abbreviate(format_frames(wanted), sep=",")
    if seq.dirname and not os.path.isdir(seq.dirname):
        where = f"folder {seq.dirname!r} does not exist"
    else:
        on_disk = format_frames(seq.existing_frames())
        where = f"on disk: {_abbreviate(on_disk, sep=',')}" if on_disk else "no frame of it is on disk"
    if len(missing) == len(wanted):
        what = f"all {len(wanted)} frames ({requested})"
        verb = "are" if len(wanted) > 1 else "is"
        if len(wanted) == 1:
            what = f"frame {requested}"
    else:
        noun = "frame" if len(missing) == 1 else "frames"
        what = f"{len(missing)} {noun} ({_abbreviate(format_frames(missing))}) of {requested}"
        verb = "is" if len(missing) == 1 else "are"
    error = FramesMissingError(f"{what} {verb} missing from {seq.pattern} ({where})")
    error.missing = missing  # type: ignore[attr-defined]
    error.pattern = seq.pattern  # type: ignore[attr-defined]
    return error
