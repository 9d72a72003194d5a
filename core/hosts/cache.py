"""Where a host renders its plate for StyleLock and receives the restyled frames.

Each host node (a Nuke node, a Blender scene's StyleLock settings) owns a folder under a cache root:

    <root>/<node>/plate/plate.####.exr        the upstream range, rendered by the host (all channels)
    <root>/<node>/style/style.####.exr        a style input rendered at its keyframe frames
    <root>/<node>/restyle/restyle.####.exr    the restyled frames (the host reads these back)
    <root>/<node>/preview/preview.####.exr    look-development previews

The root is `$STYLELOCK_CACHE` when set, else `stylelock_cache/<scene name>` beside the saved scene
(or under the system temp folder for an unsaved one), so a scene's cache travels with it and two
scripts never share one. Re-rendering into the same folders is what makes Restyle incremental: the
server's resume key follows the content of the plate frames, not their paths.

A host renders into a staging folder (`staging`) and `publish`es each finished frame with a rename,
so a crash or a cancelled render never leaves a half-written plate frame where the server reads.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stylelock.core.errors import OutputError
from stylelock.core.sequence import FramePattern

CACHE_ENV = "STYLELOCK_CACHE"


def safe_name(name: str) -> str:
    """A node or scene name as a folder name (letters, digits, `-`, `_`, `.`)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "untitled"


def cache_root(scene_path: str | None, *, override: str | None = None) -> Path:
    """The cache root for a scene saved at `scene_path` (None or "" for an unsaved one)."""
    chosen = override or os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen).expanduser()
    if scene_path:
        scene = Path(scene_path)
        return scene.parent / "stylelock_cache" / safe_name(scene.stem)
    return Path(tempfile.gettempdir()) / "stylelock_cache" / "untitled"


@dataclass(frozen=True)
class CacheLayout:
    """The folders of one host node under a cache root."""

    root: Path
    node: str

    @property
    def folder(self) -> Path:
        return Path(self.root) / safe_name(self.node)

    @property
    def plate_pattern(self) -> str:
        return str(self.folder / "plate" / "plate.####.exr")

    @property
    def style_pattern(self) -> str:
        return str(self.folder / "style" / "style.####.exr")

    @property
    def output_pattern(self) -> str:
        return str(self.folder / "restyle" / "restyle.####.exr")

    @property
    def preview_pattern(self) -> str:
        return str(self.folder / "preview" / "preview.####.exr")

    def make_folders(self) -> None:
        for name in ("plate", "style", "restyle", "preview"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)


def staging(pattern: str) -> str:
    """Where a host renders `pattern`'s frames before `publish` moves them into place."""
    path = Path(pattern)
    return str(path.parent / ".rendering" / path.name)


def clear_staging(pattern: str) -> None:
    """Empty `staging(pattern)` before a render, so a frame a cancelled render left half-done there is
    never published as this render's."""
    folder = Path(staging(pattern)).parent
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_file():
                entry.unlink()


def publish(pattern: str, frames: Iterable[int]) -> None:
    """Move each rendered frame from `staging(pattern)` into `pattern`, one atomic rename a frame."""
    staged, final = FramePattern.parse(staging(pattern)), FramePattern.parse(pattern)
    for frame in frames:
        source = staged.path(frame)
        if not os.path.isfile(source):
            raise OutputError(f"the host rendered no frame {frame} into {staged.dirname}")
        os.makedirs(os.path.dirname(final.path(frame)) or ".", exist_ok=True)
        os.replace(source, final.path(frame))


def prune(pattern: str, keep: Iterable[int]) -> list[int]:
    """Remove frames of `pattern` not in `keep` (a cache's plate frames outside the current shot, which
    the server would otherwise count as part of it); returns the frames removed."""
    sequence = FramePattern.parse(pattern)
    kept = set(keep)
    removed = [frame for frame in sequence.existing_frames() if frame not in kept]
    for frame in removed:
        os.remove(sequence.path(frame))
    return removed
