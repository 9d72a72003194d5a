"""Path tests shared by the client and the server's allowed roots."""

from __future__ import annotations

import os
from pathlib import Path

from stylelock.core.paths import is_under, looks_like_path


def test_looks_like_path_tells_files_from_channel_names() -> None:
    assert looks_like_path("/mattes/hero.%04d.exr")
    assert looks_like_path("matte.exr") and looks_like_path("MATTE.EXR")
    assert not looks_like_path("A") and not looks_like_path("matte.alpha")


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
