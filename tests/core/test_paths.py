"""Path tests shared by the client and the server's allowed roots."""

from __future__ import annotations

import os
from pathlib import Path

from stylelock.core.paths import is_under, names_files


def test_names_files_tells_files_from_channel_names() -> None:
    assert names_files("/mattes/hero.%04d.exr")
    assert names_files("matte.exr") and names_files("MATTE.EXR")
    # A sequence in the working folder names files too (the server once read such a guide without
    # checking it against its allowed roots, because two sides used different tests).
    for pattern in ("depth.####.png", "depth.%04d.tif", "edges.@@@@.jpg", "n.$F4.exr", "still.png"):
        assert names_files(pattern), pattern
    for channel in ("A", "matte.alpha", "matte.R", "depth.Z", "N.X", "Z", "crypto00.G"):
        assert not names_files(channel), channel


def test_is_under_resolves_dots_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "shows"
    (root / "a").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    roots = [os.path.realpath(root)]
    assert is_under(str(root), roots) and is_under(str(root / "a" / "f.exr"), roots)
    assert not is_under(str(root / ".." / "elsewhere"), roots)
    assert not is_under(str(tmp_path / "shows_old"), roots)  # a sibling sharing the prefix
    (root / "link").symlink_to(outside)
    assert not is_under(str(root / "link" / "f.exr"), roots)
