"""Per-frame resume keys: an output frame is redone exactly when something that decides it changed.

A frame's key hashes the job's settings (engine and its version, parameters, style references by
content, colour, layer, proxy, mask and guide sources: `JobSpec.pixel_hash`, which leaves out
where the plate lies and where outputs go) with the *content* of every plate frame the engine
reads to make it (`Engine.frame_inputs`, the engine's temporal contract) and of the mask and
guide files of those frames. Outputs carry their key (`stylelock:frameKey`); a resumed job skips a
frame whose file carries the key it would write. So a plate re-rendered into the same folder is
judged by its pixels, not its path: an unchanged frame is skipped, a changed one is redone together
with the frames the contract makes depend on it, and nothing else.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence

from stylelock.core.errors import CorruptFrameError
from stylelock.core.paths import names_files
from stylelock.core.sequence import FramePattern
from stylelock.core.temporal import frame_inputs
from stylelock.server.engines.base import Engine, ShotPlan

FRAME_KEY_ATTRIBUTE = "stylelock:frameKey"
MISSING = "missing"
#: Files changed more recently than this are not remembered (coarse file-system timestamps: SMB, NFS).
RACY_SECONDS = 2.0


class ContentDigests:
    """SHA-256 of files' bytes, remembered by (path, size, mtime, ctime, inode) so a long-lived server
    or a resumed job does not read an unchanged plate frame twice. Thread-safe, bounded."""

    def __init__(self, capacity: int = 65536) -> None:
        self._capacity = capacity
        self._known: OrderedDict[tuple[str, int, int, int, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def digest(self, path: str) -> str:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return MISSING
        except OSError as exc:
            raise CorruptFrameError(f"{path} cannot be read: {exc.strerror}") from None
        identity = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        with self._lock:
            known = self._known.get(identity)
            if known is not None:
                self._known.move_to_end(identity)
                return known
        value = _hash_file(path)
        # A file changed within the file system's timestamp resolution of now could change again
        # under the same times (git's "racy" files): it is hashed again next time, not remembered.
        if time.time() - max(stat.st_mtime, stat.st_ctime) > RACY_SECONDS:
            with self._lock:
                self._known[identity] = value
                while len(self._known) > self._capacity:
                    self._known.popitem(last=False)
        return value


def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return MISSING
    except OSError as exc:
        raise CorruptFrameError(f"{path} cannot be read: {exc.strerror}") from None
    return digest.hexdigest()


#: One cache per process: the server's jobs and the CLI's share it.
DIGESTS = ContentDigests()


class FrameKeys:
    """The resume key of each output frame of one job."""

    def __init__(
        self,
        engine: type[Engine],
        settings_hash: str,
        plan: ShotPlan,
        plate_path: Callable[[int], str],
        *,
        mask: str | None = None,
        guides: Mapping[str, str] | None = None,
        digests: ContentDigests = DIGESTS,
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.plate_path = plate_path
        self.digests = digests
        self.sequences = _file_sequences(mask, guides or {})
        # the engine's own version, not the package's: a release that does not change an engine's
        # output keeps every frame it made
        self.base = f"{engine.name}|{engine.version}|{settings_hash}"

    def inputs(self, frame: int) -> list[int]:
        """The plate frames output `frame` reads (the engine's temporal contract), ascending."""
        plan = self.plan
        return frame_inputs(self.engine.temporal, frame, plan.plate_frames, plan.style_frames, plan.params)

    def key(self, frame: int) -> str:
        digest = hashlib.sha256(self.base.encode())
        for number in self.inputs(frame):
            digest.update(f"|{number}:{self.digests.digest(self.plate_path(number))}".encode())
            for name, pattern in self.sequences:
                digest.update(f"|{name}:{self.digests.digest(pattern.path(number))}".encode())
        return digest.hexdigest()[:32]

    def keys(self, frames: Iterable[int]) -> dict[int, str]:
        return {frame: self.key(frame) for frame in frames}


def _file_sequences(mask: str | None, guides: Mapping[str, str]) -> Sequence[tuple[str, FramePattern]]:
    """The mask and guide sources that are per-frame files (a plate channel is in the plate's bytes)."""
    sources = [("mask", mask)] if mask else []
    sources += [(f"guide:{name}", source) for name, source in sorted(guides.items())]
    return [(name, FramePattern.parse(source)) for name, source in sources if names_files(source)]
