"""Chunked file transfer: files read back whole, frames appear on disk only when complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stylelock.core.client.transfer import FrameWriter, file_chunks
from stylelock.core.errors import CorruptFrameError


@pytest.mark.parametrize("size", [0, 1, 1000, 4096, 4097, 10_000])
def test_file_chunks_cover_the_file_in_order(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    chunks = list(file_chunks(str(path), 4096))
    assert [index for index, _, _ in chunks] == list(range(len(chunks)))
    assert [last for _, last, _ in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(len(piece) <= 4096 for _, _, piece in chunks)
    assert b"".join(piece for _, _, piece in chunks) == data


def test_frame_writer_renames_a_frame_into_place_only_when_complete(tmp_path: Path) -> None:
    writer = FrameWriter(str(tmp_path / "out" / "o.####.exr"))
    assert writer.add(1001, 0, False, b"abc") is None
    assert not (tmp_path / "out" / "o.1001.exr").exists()
    assert writer.add(1001, 1, True, b"def") == str(tmp_path / "out" / "o.1001.exr")
    assert (tmp_path / "out" / "o.1001.exr").read_bytes() == b"abcdef"
    assert writer.add(-2, 0, True, b"x") == str(tmp_path / "out" / "o.-002.exr")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["o.-002.exr", "o.1001.exr"]


def test_frame_writer_leaves_nothing_behind_on_a_broken_stream(tmp_path: Path) -> None:
    writer = FrameWriter(str(tmp_path / "o.####.exr"))
    writer.add(1, 0, False, b"abc")
    with pytest.raises(CorruptFrameError, match="out of order"):
        writer.add(1, 2, True, b"ghi")
    with pytest.raises(CorruptFrameError, match="without its first chunk"):
        writer.add(2, 1, True, b"x")
    writer.add(3, 0, False, b"half")
    writer.abort()
    assert list(tmp_path.iterdir()) == []
