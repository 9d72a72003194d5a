"""Input faults are the client's fault (INVALID_ARGUMENT, DATA_LOSS, RESOURCE_EXHAUSTED with one human
line, never INTERNAL), and a cheap request cannot make the server spend much (docs/security.md)."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import grpc
import pytest
from grpc_fixtures import serve, tiny_plate

from stylelock.core.client import StyleLockClient
from stylelock.core.errors import CorruptFrameError, ResourceLimitError, SpecError
from stylelock.core.exr.limits import DecodeLimits, check_header_bytes
from stylelock.core.exr.rawheader import read_raw_headers_of_file
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.server.cli import main as cli
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc

BASE = {"plate": "/p/plate.####.exr", "frames": "1-3", "output": {"pattern": "/o/o.####.exr"}}


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"engine": ["keyframe"]}, "engine must be text"),
        ({"params": [1, 2]}, "params must be an object"),
        ({"params": {"softness": [0.5]}}, "must be text, a number or true/false"),
        ({"proxy": "0.5"}, "proxy must be a number"),
        ({"plate": "/p/pla\u0000te.####.exr"}, "contains a NUL character"),
        ({"layer": "x" * 4_000_000}, "job spec is 4000"),  # a whole spec is at most 1 MiB
        ({"layer": "x" * 5_000}, "layer is 5000 characters long"),
        ({"styles": [{"path": 7}]}, "styles[0].path must be text"),
        ({"output": {"pattern": "/o/o.####.exr", "resume": "yes"}}, "resume must be true or false"),
    ],
)
def test_mistyped_and_oversized_fields_are_invalid_argument(changes, needle):
    spec_json = json.dumps({**BASE, **changes})
    with serve() as (_, address), grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleLockStub(channel)
        with pytest.raises(grpc.RpcError) as failed:
            stub.SubmitJob(pb.SubmitJobRequest(spec_json=spec_json, inline=True), timeout=10)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert needle in failed.value.details() and len(failed.value.details()) < 400
        with StyleLockClient(address) as client:
            assert client.jobs(include_ended=True) == []  # nothing kept, the listing still works


def test_deep_json_and_non_finite_parameters_are_refused():
    with pytest.raises(SpecError, match="nested too deeply"):
        JobSpec.from_json("[" * 200_000 + "]" * 200_000)
    with pytest.raises(SpecError, match="finite"):
        JobSpec.from_json(json.dumps(BASE)[:-1] + ', "params": {"softness": NaN}}')


def test_a_nan_parameter_on_the_command_line_is_exit_2(tmp_path, capsys):
    plate = tiny_plate(tmp_path / "plate", frames="1001")
    paint = "1001=" + plate.replace("####", "1001")
    out = str(tmp_path / "o.####.exr")
    code = cli(
        ["restyle", plate, "--frames", "1001", "--style", paint, "--param", "softness=nan", "--out", out]
    )
    assert code == 2 and "must be a finite number" in capsys.readouterr().err


@pytest.mark.parametrize("inline", [True, False])
def test_a_ten_million_frame_range_is_refused_at_once(tmp_path, inline):
    """A 200-byte submit of 1-9999999 (inline or shared paths) is refused before anything is listed."""
    plate = tiny_plate(tmp_path / "plate", frames="1")
    out = OutputSettings(str(tmp_path / "o" / "o.####.exr"))
    spec = JobSpec(plate, "1-9999999", "passthrough", output=out)
    with serve(allow_roots=[tmp_path]) as (server, address), grpc.insecure_channel(address) as channel:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failed:
            request = pb.SubmitJobRequest(spec_json=spec.to_json(), inline=inline)
            pb_grpc.StyleLockStub(channel).SubmitJob(request, timeout=30)
        assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "9,999,999 frames" in failed.value.details()
        assert time.monotonic() - started < 5
        assert server.manager.jobs(include_ended=True) == []


def _declare(path: Path, width: int, height: int) -> None:
    """Make a small EXR's header declare a `width` x `height` data window (its pixels stay small)."""
    window = read_raw_headers_of_file(str(path))[0]["dataWindow"]
    data = bytearray(path.read_bytes())
    data[window.offset : window.offset + 16] = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    path.write_bytes(bytes(data))


def test_a_small_file_that_declares_a_huge_frame_is_refused_before_decoding(tmp_path):
    plate = Path(tiny_plate(tmp_path / "plate", frames="1").replace("####", "0001"))
    _declare(plate, 6000, 6000)
    assert plate.stat().st_size < 300_000
    with pytest.raises(ResourceLimitError, match="6000x6000"):
        check_header_bytes(str(plate), DecodeLimits(max_pixels=4096 * 4096))
    with pytest.raises(ResourceLimitError, match="GiB decoded"):
        check_header_bytes(str(plate), DecodeLimits(max_decoded_bytes=256 * 1024**2))
    spec = JobSpec(
        str(tmp_path / "plate" / "plate.####.exr"), "1", "passthrough",
        output=OutputSettings(str(tmp_path / "o" / "o.####.exr")),
    )  # fmt: skip
    with (
        serve(max_frame_pixels=4096 * 4096) as (_, address),
        StyleLockClient(address) as client,
        pytest.raises(ResourceLimitError, match="over the server's limit"),
    ):
        job = client.submit(spec, inline=True)  # refused as the upload completes
        list(client.watch(job))


def test_a_bit_flipped_header_is_data_loss_not_an_internal_error(tmp_path):
    plate = Path(tiny_plate(tmp_path / "plate", frames="1").replace("####", "0001"))
    good = plate.read_bytes()
    seen = set()
    for position in range(8, 200, 7):  # flip bits across the header
        data = bytearray(good)
        data[position] ^= 0x80
        plate.write_bytes(bytes(data))
        try:
            check_header_bytes(str(plate), DecodeLimits())
        except (CorruptFrameError, ResourceLimitError) as exc:
            seen.add(type(exc).__name__)
        from stylelock.core.exr import read_exr

        try:
            read_exr(plate, DecodeLimits())
        except (CorruptFrameError, ResourceLimitError) as exc:
            seen.add(type(exc).__name__)
    assert "CorruptFrameError" in seen  # and nothing else escaped: no UnicodeDecodeError, no crash


def test_one_caller_may_hold_only_so_many_jobs_the_others_still_get_in(tmp_path, monkeypatch):
    from grpc_fixtures import SlowEngine, register_engine

    register_engine(monkeypatch, SlowEngine)
    plate = tiny_plate(tmp_path / "plate", frames="1-4")
    tokens = tmp_path / "tokens"
    tokens.write_text("alice alice-token-0123456789\nbob bob-token-0123456789ab\n")
    tokens.chmod(0o600)

    def spec(name: str) -> JobSpec:
        out = OutputSettings(str(tmp_path / name / "o.####.exr"))
        return JobSpec(plate, "1-4", "test-slow", params={"delay": 0.5}, output=out)

    with (
        serve(allow_roots=[tmp_path], tokens_file=str(tokens), max_jobs_per_client=2) as (_, address),
        StyleLockClient(address, token="alice-token-0123456789") as alice,
        StyleLockClient(address, token="bob-token-0123456789ab") as bob,
    ):
        mine = [alice.submit(spec(f"a{i}")) for i in range(2)]
        with pytest.raises(ResourceLimitError, match="alice has 2 jobs waiting or running"):
            alice.submit(spec("a2"))
        assert bob.submit(spec("b0"))  # another caller is not held back by alice's jobs
        for job in mine:
            alice.cancel(job)
