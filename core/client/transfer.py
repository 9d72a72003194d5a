"""Moving EXR bytes in ~1 MiB chunks: reading files chunk by chunk and writing them back atomically.

Used by both ends of the inline transport. Nothing here holds more than a chunk or two in memory.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from stylelock.core.errors import CorruptFrameError, OutputError
from stylelock.core.sequence import FramePattern

CHUNK_BYTES = 1024 * 1024


def file_chunks(path: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bool, bytes]]:
    """(chunk index, last, bytes) of a file, read one chunk at a time; an empty file is one chunk."""
    with open(path, "rb") as handle:
        index = 0
        data = handle.read(chunk_bytes)
        while True:
            following = handle.read(chunk_bytes)
            yield index, not following, data
            if not following:
                return
            data = following
            index += 1


class FrameWriter:
    """Writes frames arriving as chunks to `pattern`, each to a temp file renamed when complete.

    A frame is either absent or whole on disk: `abort()` (also on errors) removes partial files.
    """

    def __init__(self, pattern: str | FramePattern) -> None:
        self.pattern = pattern if isinstance(pattern, FramePattern) else FramePattern.parse(pattern)
        self._frame: int | None = None
        self._next = 0
        self._handle = None
        self._temp = ""
        self.written: list[int] = []

    def path(self, frame: int) -> str:
        return self.pattern.path(frame)

    def add(self, frame: int, chunk_index: int, last: bool, data: bytes) -> str | None:
        """Add one chunk; returns the frame's path once its last chunk is on disk."""
        if self._frame is None:
            if chunk_index != 0:
                raise CorruptFrameError(f"frame {frame} arrived without its first chunk")
            final = self.path(frame)
            folder = os.path.dirname(final) or "."
            try:
                os.makedirs(folder, exist_ok=True)
                descriptor, self._temp = tempfile.mkstemp(
                    dir=folder, prefix=f".{os.path.basename(final)}.", suffix=".part"
                )
            except OSError as exc:
                raise OutputError(f"cannot write frame {frame} to {final}: {exc.strerror}") from None
            self._handle = os.fdopen(descriptor, "wb")
            self._frame, self._next = frame, 0
        if frame != self._frame or chunk_index != self._next:
            self.abort()
            raise CorruptFrameError(f"chunk {chunk_index} of frame {frame} arrived out of order")
        try:
            self._handle.write(data)
            self._next += 1
            if not last:
                return None
            self._handle.close()
            self._handle = None
            final = self.path(frame)
            os.replace(self._temp, final)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write frame {frame}: {exc.strerror}") from None
        self._temp, self._frame = "", None
        self.written.append(frame)
        return final

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._temp:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
        self._temp, self._frame = "", None
