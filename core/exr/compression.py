"""Which compression an output EXR gets: the policy of `stylelock.core.exr` (see its docstring)."""

from __future__ import annotations

import difflib

from stylelock.core.errors import SpecError

#: Compressions that lose data. DWAA/DWAB compress lossily every channel whose name ends like a
#: colour channel (R, G, B, Y), Cryptomatte IDs and normals included, and are not idempotent; B44
#: and B44A quantise half channels. Re-encoding a decoded frame with them degrades it again.
LOSSY_COMPRESSIONS: frozenset[str] = frozenset({"dwaa", "dwab", "b44", "b44a"})

#: Every compression OpenImageIO 3.2 writes under the name asked for. "htj2k" is absent on purpose:
#: this build silently writes ZIP instead. "pxr24" is lossy for float32 channels (it keeps 24 bits)
#: but idempotent, so re-applying it changes nothing already stored: it is kept, not replaced.
KNOWN_COMPRESSIONS: frozenset[str] = frozenset(
    {"none", "rle", "zips", "zip", "piz", "pxr24", "zstd"} | LOSSY_COMPRESSIONS
)

#: What a lossy input compression becomes on output when the user asks for nothing else.
DEFAULT_LOSSLESS = "zip"


def compression_base(compression: str) -> str:
    """The codec name without a level suffix: "dwaa:45" -> "dwaa", "ZIP" -> "zip"."""
    return compression.split(":", 1)[0].strip().lower()


def is_lossy(compression: str) -> bool:
    return compression_base(compression) in LOSSY_COMPRESSIONS


def check_compression(compression: str) -> str:
    """Return `compression` normalised ("DWAA:45" -> "dwaa:45"), or raise SpecError naming the known ones."""
    base = compression_base(compression)
    _, colon, level = compression.partition(":")
    if base not in KNOWN_COMPRESSIONS:
        close = difflib.get_close_matches(base, sorted(KNOWN_COMPRESSIONS), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SpecError(
            f"unknown EXR compression {compression!r}{hint}; known: {', '.join(sorted(KNOWN_COMPRESSIONS))}"
        )
    if colon:
        try:
            value = float(level)
        except ValueError:
            value = -1.0
        if not level.strip() or value < 0:
            raise SpecError(f"EXR compression level in {compression!r} must be a non-negative number")
        return f"{base}:{level.strip()}"
    return base


def output_compression(input_compression: str, requested: str | None) -> str:
    """The compression an output frame is written with.

    `requested` wins when given (checked against the known names). Otherwise a lossless input
    compression is kept as it is, and a lossy one (DWAA, DWAB, B44, B44A, with or without a level
    suffix such as "dwaa:45") becomes ZIP, so pixels decoded once are not degraded a second time;
    so does one this build does not write under its name (HTJ2K, or an id OIIO reads under a name
    of its own).
    """
    if requested:
        return check_compression(requested)
    if is_lossy(input_compression) or compression_base(input_compression) not in KNOWN_COMPRESSIONS:
        return DEFAULT_LOSSLESS
    return input_compression
