"""Small path tests shared by the client and the server, so both sides judge a path the same way.

Only the standard library: the thin client imports this.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["is_under", "looks_like_path"]


def looks_like_path(value: str) -> bool:
    """True when a spec value (a mask or guide source) names a file rather than a plate channel."""
    return "/" in value or os.sep in value or value.lower().endswith(".exr")


def is_under(path: str, roots: Iterable[str]) -> bool:
    """True when ``path``, resolved (symlinks, ``..``, relative to the working folder), is one of
    ``roots`` or lies inside one. ``roots`` must already be resolved with `os.path.realpath`."""
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)
