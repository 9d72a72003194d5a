"""Decoding untrusted files in worker processes (`stylelock.core.exr.worker`): a decoder that crashes,
hangs or runs out of memory fails that file only, with a one-line error naming it, and the pool
carries on with a fresh worker. Real worker processes, real signals, real OpenImageIO."""

from __future__ import annotations

import os
import signal
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from exr_fixtures import write_test_exr

from stylelock.core.errors import CorruptFrameError, FramesMissingError, ResourceLimitError
from stylelock.core.exr.limits import DecodeLimits
from stylelock.core.exr.rawheader import read_raw_headers_of_file
from stylelock.core.exr.worker import DecodeWorkers


@pytest.fixture
def workers():
    pool = DecodeWorkers(1)
    yield pool
    pool.close()


def _frame(path: Path, **kw) -> Path:
    rng = np.random.default_rng(3)
    channels = {name: rng.random((24, 32)).astype(np.float16) for name in ("R", "G", "B", "A")}
    write_test_exr(path, channels, **kw)
    return path


def _wait_for_worker(pool: DecodeWorkers) -> int:
    deadline = time.monotonic() + 30
    while not pool.pids():
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.01)
    return pool.pids()[0]


def test_a_good_frame_decodes_and_the_worker_is_kept(tmp_path, workers):
    frame = _frame(tmp_path / "f.exr", compression="piz")
    workers.check(str(frame), DecodeLimits(), "uploaded frame 1")
    first = workers.pids()
    workers.check(str(frame), DecodeLimits())
    assert workers.pids() == first and len(first) == 1


def test_a_corrupt_frame_is_refused_naming_it_not_the_temporary_path(tmp_path, workers):
    data = _frame(tmp_path / "f.exr").read_bytes()
    frame = tmp_path / "f.exr.part"  # as the spool names a file still arriving
    frame.write_bytes(data[: len(data) - 200])  # the header is intact, the last chunks are cut
    with pytest.raises(CorruptFrameError) as refused:
        workers.check(str(frame), DecodeLimits(), "uploaded frame 7")
    assert "uploaded frame 7" in refused.value.message and str(frame) not in refused.value.message
    assert "\n" not in refused.value.message
    with pytest.raises(FramesMissingError):
        workers.check(str(tmp_path / "absent.exr"), DecodeLimits(), "uploaded frame 8")


def test_a_crashed_decoder_fails_that_file_only(tmp_path, workers):
    """A worker killed by SIGSEGV mid-decode (here blocked on a FIFO, so the kill lands while it
    works): the file is refused as DATA_LOSS, the caller survives, the next file gets a new worker."""
    fifo = tmp_path / "style.png"
    os.mkfifo(fifo)
    failure: list[BaseException] = []

    def decode() -> None:
        try:
            workers.check(str(fifo), DecodeLimits(), "uploaded style 0", kind="display")
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=decode)
    thread.start()
    crashed = _wait_for_worker(workers)
    os.kill(crashed, signal.SIGSEGV)
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(failure[0], CorruptFrameError)
    assert (
        failure[0].message
        == "uploaded style 0 cannot be decoded: the decoder crashed (SIGSEGV); the file is refused"
    )
    workers.check(str(_frame(tmp_path / "f.exr")), DecodeLimits())
    assert crashed not in workers.pids()


def test_a_decoder_that_never_returns_is_killed_at_the_timeout(tmp_path):
    fifo = tmp_path / "style.png"
    os.mkfifo(fifo)  # nobody ever writes: the decoder waits forever
    pool = DecodeWorkers(1, timeout_s=1.0)
    try:
        with pytest.raises(CorruptFrameError, match="the decoder took longer than 1 s"):
            pool.check(str(fifo), DecodeLimits(), "uploaded style 0", kind="display")
        assert pool.pids() == []  # killed, not left running
        pool.check(str(_frame(tmp_path / "f.exr")), DecodeLimits())
    finally:
        pool.close()


def test_a_decode_that_would_exhaust_memory_fails_inside_its_memory_limit(tmp_path):
    """Found by bench/fuzz.py: a 32x32 frame whose tile description says 16384x16384 makes
    OpenImageIO allocate a whole tile, 16 channels x 1 GiB, for minutes. With the header limits
    switched off, the worker's memory limit still stops it, and the caller's memory never sees it."""
    rng = np.random.default_rng(5)
    channels = {f"c{i}": rng.random((32, 32)).astype(np.float32) for i in range(16)}
    path = tmp_path / "bomb.exr"
    write_test_exr(path, channels, tile=(8, 8), compression="zip")
    tiles = read_raw_headers_of_file(str(path))[0]["tiles"]
    data = bytearray(path.read_bytes())
    data[tiles.offset : tiles.offset + 9] = struct.pack("<IIB", 16384, 16384, 0)
    path.write_bytes(bytes(data))
    unlimited = DecodeLimits(max_pixels=2**40, max_channels=512, max_decoded_bytes=2**40)
    pool = DecodeWorkers(1, memory_bytes=1024**3)
    try:
        with pytest.raises((ResourceLimitError, CorruptFrameError), match="uploaded frame 1"):
            pool.check(str(path), unlimited, "uploaded frame 1")
        pool.check(str(_frame(tmp_path / "f.exr")), DecodeLimits())
    finally:
        pool.close()
    limited = DecodeWorkers(1)
    try:  # with the limits on, the header check refuses it before any allocation
        with pytest.raises(ResourceLimitError, match="tiles of 16384x16384"):
            limited.check(str(path), DecodeLimits(), "uploaded frame 1")
    finally:
        limited.close()


def test_a_closed_pool_leaves_no_worker(tmp_path):
    pool = DecodeWorkers(2)
    frame = str(_frame(tmp_path / "f.exr"))
    futures = [pool.submit(frame, DecodeLimits()) for _ in range(4)]
    for future in futures:
        future.result(60)
    pids = pool.pids()
    assert 1 <= len(pids) <= 2
    pool.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: gone, not a zombie
