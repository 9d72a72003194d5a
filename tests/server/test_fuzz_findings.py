"""What bench/fuzz.py found, each reproduced from a file or request built here (no committed blobs).

Every one of these failed before its fix: a frame declaring huge tiles made the decoder allocate a
whole tile (16 GiB and 48 s for a 66 KB file); a frame whose pixels do not decode was queued and
failed later; a header text that is not UTF-8 answered INTERNAL (std::bad_cast on write); a spec
schema that is a list answered INTERNAL; unknown field names and job ids were echoed whole (a
newline, a 1 MB id that no client could even receive).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import grpc
import numpy as np
import pytest
from exr_fixtures import write_test_exr
from grpc_fixtures import serve

from stylelock.core.client import StyleLockClient
from stylelock.core.client import events as kinds
from stylelock.core.errors import CorruptFrameError, ResourceLimitError
from stylelock.core.exr import read_exr
from stylelock.core.exr.limits import DecodeLimits, check_header_bytes
from stylelock.core.exr.rawheader import read_raw_headers_of_file
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc

MIB = 1024 * 1024


def _plate(folder: Path, *, tile=None, attributes=None, channels=("R", "G", "B", "A")) -> Path:
    rng = np.random.default_rng(11)
    pixels = {name: rng.random((32, 32)).astype(np.float32) for name in channels}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plate.0001.exr"
    write_test_exr(path, pixels, tile=tile, attributes=attributes, compression="zip")
    return path


def _patch(path: Path, attribute: str, value: bytes) -> None:
    """Overwrite an attribute's value in place (same length)."""
    found = read_raw_headers_of_file(str(path))[0][attribute]
    assert len(found.value) == len(value)
    data = bytearray(path.read_bytes())
    data[found.offset : found.offset + len(value)] = value
    path.write_bytes(bytes(data))


def _spec(plate: Path, out: Path) -> JobSpec:
    return JobSpec(str(plate.parent / "plate.####.exr"), "1", "passthrough", output=OutputSettings(str(out)))


def test_a_frame_declaring_huge_tiles_is_refused_before_its_pixels_are_allocated(tmp_path):
    plate = _plate(tmp_path / "plate", tile=(8, 8))
    _patch(plate, "tiles", struct.pack("<IIB", 4096, 4096, 0))  # 4096x4096 x 4 float = 256 MiB a tile
    limits = DecodeLimits(max_decoded_bytes=64 * MIB)
    with pytest.raises(ResourceLimitError, match="tiles of 4096x4096"):
        check_header_bytes(str(plate), limits)
    with pytest.raises(ResourceLimitError, match="tiles of 4096x4096"):
        read_exr(plate, limits)
    with (
        serve(max_decoded_frame_bytes=64 * MIB) as (_, address),
        StyleLockClient(address) as client,
        pytest.raises(ResourceLimitError, match="uploaded frame 1 declares tiles of 4096x4096"),
    ):
        client.submit(_spec(plate, tmp_path / "out" / "o.####.exr"), inline=True)


def test_a_frame_whose_pixels_do_not_decode_is_refused_before_it_is_queued(tmp_path):
    """The header is intact (it passes every header check); the data is cut short. The upload's
    decode in a worker process refuses it, so the job never waits in the queue to fail later."""
    plate = _plate(tmp_path / "plate")
    data = plate.read_bytes()
    plate.write_bytes(data[: len(data) - 100])
    with serve() as (server, address), StyleLockClient(address) as client:
        with pytest.raises(CorruptFrameError, match="cannot decode part 0 of uploaded frame 1") as refused:
            client.submit(_spec(plate, tmp_path / "out" / "o.####.exr"), inline=True)
        assert "\n" not in refused.value.message and ".part" not in refused.value.message
        (job,) = server.manager.jobs(include_ended=True)
        assert job.state == kinds.FAILED
        events = [e.kind for e in client.watch(job.job_id)]
        assert kinds.QUEUED not in events and events[-1] == kinds.ERROR


def test_header_text_that_is_not_utf8_is_restyled_not_an_internal_error(tmp_path):
    plate = _plate(tmp_path / "plate", attributes={"comments": "A" * 12})  # OIIO's ImageDescription
    _patch(plate, "comments", b"ok \xff\xfe\x80 bytes")
    out = tmp_path / "out" / "o.####.exr"
    with serve() as (_, address), StyleLockClient(address) as client:
        job = client.submit(_spec(plate, out), inline=True)
        ended = list(client.watch(job))[-1]
        assert ended.kind == kinds.FINISHED, ended.message
    written = read_exr(tmp_path / "out" / "o.0001.exr").main
    assert written.attributes["ImageDescription"].startswith("ok \ufffd")
    assert np.array_equal(written.pixels["A"], read_exr(plate).main.pixels["A"])


def test_a_schema_that_is_not_text_and_odd_field_names_are_one_invalid_argument_line(tmp_path):
    base = {"plate": "/p/plate.####.exr", "frames": "1", "output": {"pattern": "/o/o.####.exr"}}
    with serve() as (_, address), grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleLockStub(channel)
        for changes, needle in (
            ({"schema": []}, "schema must be text"),
            ({"schema": "x" * 100_000}, "is not supported"),
            ({"a\nb": 1, "z" * 5000: 2}, "unknown fields: 'a\\nb'"),
        ):
            request = pb.SubmitJobRequest(spec_json=json.dumps({**base, **changes}), inline=True)
            with pytest.raises(grpc.RpcError) as failed:
                stub.SubmitJob(request, timeout=10)
            assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            details = failed.value.details()
            assert needle in details and "\n" not in details and len(details) < 300


def test_a_huge_or_odd_job_id_is_not_found_in_a_short_line(tmp_path):
    with serve() as (_, address), grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleLockStub(channel)
        for job_id in ("j" * 1_000_000, "\x00\n" * 500):
            with pytest.raises(grpc.RpcError) as failed:
                list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=10))
            assert failed.value.code() == grpc.StatusCode.NOT_FOUND
            assert len(failed.value.details()) < 200 and "\n" not in failed.value.details()
            chunk = pb.UploadChunk(job_id=job_id, frame=1, chunk_index=0, last=True, data=b"v/1\x01")
            with pytest.raises(grpc.RpcError) as failed:
                stub.UploadFrames(iter([chunk]), timeout=10)
            assert failed.value.code() == grpc.StatusCode.NOT_FOUND
            assert len(failed.value.details()) < 200


def test_a_channel_name_that_is_not_utf8_is_data_loss_at_upload(tmp_path):
    """A flipped bit in a channel name made it text OIIO could read but not write (INTERNAL:
    "basic_string: construction from null"); such a frame is corrupt, refused as it is uploaded."""
    plate = _plate(tmp_path / "plate", channels=("R", "G", "B", "A", "weird"))
    data = plate.read_bytes()
    assert data.count(b"weird\x00") == 1
    plate.write_bytes(data.replace(b"weird\x00", b"w\xffird\x00"))
    with pytest.raises(CorruptFrameError, match="channel or part name that is not UTF-8"):
        read_exr(plate)
    with (
        serve() as (_, address),
        StyleLockClient(address) as client,
        pytest.raises(
            CorruptFrameError, match="uploaded frame 1 has a channel or part name that is not UTF-8"
        ),
    ):
        client.submit(_spec(plate, tmp_path / "out" / "o.####.exr"), inline=True)


def test_a_reused_idempotency_key_is_echoed_short(tmp_path):
    spec = {
        "plate": "/p/plate.####.exr",
        "frames": "1",
        "engine": "passthrough",
        "output": {"pattern": "/o/o.####.exr"},
    }
    key = "k" * 100_000
    with serve() as (_, address), grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleLockStub(channel)
        stub.SubmitJob(
            pb.SubmitJobRequest(
                spec_json=json.dumps(spec), inline=True, idempotency_key=key, plate_frames=[1]
            ),
            timeout=10,
        )
        other = json.dumps({**spec, "frames": "1-2"})
        with pytest.raises(grpc.RpcError) as failed:
            stub.SubmitJob(
                pb.SubmitJobRequest(spec_json=other, inline=True, idempotency_key=key, plate_frames=[1, 2]),
                timeout=10,
            )
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "already used" in failed.value.details() and len(failed.value.details()) < 200


def test_a_compression_this_build_cannot_write_is_restyled_into_zip(tmp_path):
    """A compression id OIIO reads under a name it cannot write ("lj2k", id 12; a tiled file of
    incompressible pixels stores its tiles raw, so it decodes): the output failed with
    FAILED_PRECONDITION ('unknown EXR compression'); it is written with ZIP, as a lossy one is."""
    rng = np.random.default_rng(12)
    channels = {name: rng.random((32, 32)).astype(np.float32) for name in ("R", "G", "B", "A")}
    (tmp_path / "plate").mkdir()
    plate = tmp_path / "plate" / "plate.0001.exr"
    write_test_exr(plate, channels, compression="zip", tile=(8, 8))
    _patch(plate, "compression", bytes([12]))
    assert read_exr(plate).main.compression == "lj2k"
    with serve() as (_, address), StyleLockClient(address) as client:
        job = client.submit(_spec(plate, tmp_path / "out" / "o.####.exr"), inline=True)
        ended = list(client.watch(job))[-1]
        assert ended.kind == kinds.FINISHED, ended.message
    written = read_exr(tmp_path / "out" / "o.0001.exr").main
    assert written.compression == "zip"
    assert np.array_equal(written.pixels["A"], channels["A"])
