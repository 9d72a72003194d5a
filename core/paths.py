"""Small path tests shared by the client and the server, so both sides judge a path the same way.

Only the standard library: the thin client imports this.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["FRAME_TOKENS", "has_frame_token", "is_under", "names_files"]

FRAME_TOKENS = ("#", "@", "%0", "%d", "$F")
"""What marks the frame number in a sequence pattern (`####`, `@@@@`, `%04d`, `$F4`)."""

IMAGE_EXTENSIONS = (".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".dpx", ".hdr", ".webp", ".bmp")


def has_frame_token(value: str) -> bool:
    return any(token in value for token in FRAME_TOKENS)


def names_files(value: str) -> bool:
    """True when a mask or guide source names files on disk rather than a plate channel.

    A channel name (`A`, `matte.R`, `depth.Z`, `N.X`) has no folder separator, no frame token and
    no image file extension; anything with one of those is a path. The client (which sends such
    paths as absolute ones), the server's allowed-roots check and the engines that read the files
    all decide with this one test, so none of them can read a file another did not check.
    """
    lowered = value.lower()
    return "/" in value or os.sep in value or has_frame_token(value) or lowered.endswith(IMAGE_EXTENSIONS)


def is_under(path: str, roots: Iterable[str]) -> bool:
    """True when ``path``, resolved (symlinks, ``..``, relative to the working folder), is one of
    ``roots`` or lies inside one. ``roots`` must already be resolved with `os.path.realpath`."""
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)
