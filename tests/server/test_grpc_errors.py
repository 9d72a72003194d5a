"""Whatever a client sends, the server answers with the right status and stays up.

Each bad request gets the gRPC code its StyleLockError names and the client raises that same
error class with the server's message; afterwards health checking still says SERVING.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest
from grpc_fixtures import SlowEngine, register_engine, serve, tiny_plate, wait_for

from stylelock.core.client import StyleLockClient, run_remote
from stylelock.core.client.errors import ERROR_TYPE_KEY, ServerInternalError, UnknownJobError
from stylelock.core.errors import (
    CorruptFrameError,
    FramesMissingError,
    PathNotAllowedError,
    ResourceLimitError,
    ServerUnavailableError,
    SpecError,
    UnknownEngineError,
)
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.server.engines.base import Engine
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc


class BrokenEngine(Engine):
    name = "test-broken"
    summary = "fails with a bug on the second frame"

    def restyle(self, shot, frames):
        for index, frame in enumerate(frames):
            if index == 1:
                raise ZeroDivisionError("a bug in an engine")
            yield frame.rgb


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_plate(tmp_path_factory.mktemp("errplate") / "plate", frames="1-3")


@pytest.fixture()
def server(plate: str, tmp_path: Path):
    with serve(allow_roots=[Path(plate).parents[1], tmp_path], max_frame_bytes=200_000) as running:
        yield running


def _stub(address: str) -> tuple[grpc.Channel, pb_grpc.StyleLockStub]:
    channel = grpc.insecure_channel(address)
    return channel, pb_grpc.StyleLockStub(channel)


def _rpc_error(call, *args) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args)
    return caught.value


def _error_type(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get(ERROR_TYPE_KEY, "")


def _healthy(address: str) -> None:
    with StyleLockClient(address) as client:
        assert client.health() == "SERVING"


def _spec(plate: str, tmp_path: Path, **changes) -> JobSpec:
    spec = JobSpec(
        plate=plate, frames="1-3", engine="passthrough", output=OutputSettings(str(tmp_path / "o.####.exr"))
    )
    return spec.with_changes(**changes)


@pytest.mark.parametrize(
    ("spec_json", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        ('{"plate": "a.####.exr", "frames": "1-3", "colour": 7}', "colour must be an object"),
        ('{"plate": "a.####.exr", "frames": "1-3", "bogus": 1}', "unknown fields: bogus"),
        ('{"plate": "a.####.exr", "frames": "x-y"}', "x-y"),
        ("", "not valid JSON"),
    ],
)
def test_malformed_specs_are_invalid_argument(server, spec_json: str, needle: str) -> None:
    _, address = server
    channel, stub = _stub(address)
    with channel:
        for inline in (False, True):
            error = _rpc_error(stub.SubmitJob, pb.SubmitJobRequest(spec_json=spec_json, inline=inline))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert needle in error.details()
            assert _error_type(error) == "SpecError"
    _healthy(address)


def test_bad_specs_raise_the_same_error_class_with_the_servers_message(
    server, plate: str, tmp_path: Path
) -> None:
    _, address = server
    with StyleLockClient(address) as client:
        with pytest.raises(UnknownEngineError, match="'nope'"):
            client.submit(_spec(plate, tmp_path, engine="nope"))
        with pytest.raises(SpecError, match="no parameter 'strenght'"):
            client.submit(_spec(plate, tmp_path, params={"strenght": 1}), inline=True)
        with pytest.raises(FramesMissingError, match="2 frames") as missing:
            client.submit(_spec(plate, tmp_path, frames="1-5"))
        assert "4-5" in str(missing.value)
    _healthy(address)


def test_paths_outside_the_allowed_roots_are_permission_denied(server, plate: str, tmp_path: Path) -> None:
    _, address = server
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "escape").symlink_to(outside)
    with StyleLockClient(address) as client:
        for output in (
            outside / "o.####.exr",
            tmp_path / "escape" / "o.####.exr",
            tmp_path / ".." / outside.name / "o.####.exr",
        ):
            with pytest.raises(PathNotAllowedError, match="outside the server's allowed roots"):
                client.submit(_spec(plate, tmp_path, output=OutputSettings(str(output))))
        # A plate frame that is a symlink to a file outside the roots is refused too.
        secret = outside / "secret.0001.exr"
        secret.write_bytes(b"not for you")
        (tmp_path / "p.0001.exr").symlink_to(secret)
        with pytest.raises(PathNotAllowedError, match="plate frame"):
            client.submit(_spec(str(tmp_path / "p.####.exr"), tmp_path, frames="1"))
        with pytest.raises(PathNotAllowedError, match="OCIO config"):
            client.submit(
                _spec(plate, tmp_path, colour=_spec(plate, tmp_path).colour.__class__(config="/etc/x.ocio"))
            )
    assert not list(outside.glob("o.*"))
    _healthy(address)


def test_guide_and_mask_sequences_are_checked_against_the_roots(
    server, plate: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guide or matte sequence named relative to the client's folder travels as an absolute path
    and is refused when that folder is not shared (it used to reach the engine unchecked)."""
    _, address = server
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    with StyleLockClient(address) as client:
        with pytest.raises(PathNotAllowedError, match=f"guide 'depth' {outside}/depth.####.png"):
            client.submit(_spec(plate, tmp_path, guides={"depth": "depth.####.png"}))
        with pytest.raises(PathNotAllowedError, match="mask"):
            client.submit(_spec(plate, tmp_path, mask="matte.####.exr"))
        # Channel names stay channel names.
        job = client.submit(_spec(plate, tmp_path, guides={"depth": "depth.Z"}, mask="A"))
        assert job
        # Inside a root, each file of a guide sequence is checked: one that links out is refused,
        # and so is a plate frame outside the job's range (engines read those for warm-up).
        secret = outside / "secret.png"
        secret.write_bytes(b"not for you")
        (tmp_path / "depth.0002.png").symlink_to(secret)
        with pytest.raises(PathNotAllowedError, match="guide 'depth' frame"):
            client.submit(_spec(plate, tmp_path, guides={"depth": str(tmp_path / "depth.####.png")}))
        shots = tmp_path / "shots"
        shots.mkdir()
        for number in (1, 2, 3):
            (shots / f"p.{number:04d}.exr").symlink_to(Path(plate.replace("####", f"{number:04d}")))
        (shots / "p.0009.exr").symlink_to(outside / "secret.png")
        with pytest.raises(PathNotAllowedError, match="plate frame"):
            client.submit(_spec(str(shots / "p.####.exr"), tmp_path, frames="1-3"))
        # Models named by path are files the server opens too.
        for params in ({"model": str(outside / "sd15")}, {"controlnet_paths": f"depth={outside}/cn"}):
            with pytest.raises(PathNotAllowedError, match="name a model the server registered"):
                client.submit(_spec(plate, tmp_path).with_changes(params=params))
        # A name the server did not register is a path too: it would resolve against the server's
        # working folder or home.
        for value in ("evil.safetensors", "~", ".."):
            with pytest.raises(PathNotAllowedError, match="name a model the server registered"):
                client.submit(_spec(plate, tmp_path).with_changes(params={"model": value}))
    _healthy(address)


def test_a_registered_model_name_passes_the_roots(plate: str, tmp_path: Path) -> None:
    models = tmp_path / "models" / "sd15"
    models.mkdir(parents=True)
    with (
        serve(allow_roots=[Path(plate).parents[1], tmp_path], models=(f"sd15={models}",)) as (_, address),
        StyleLockClient(address) as client,
        pytest.raises(SpecError, match="engine 'passthrough' has no parameter 'model'"),
    ):
        # it reaches the engine's own check (passthrough has no model parameter)
        client.submit(_spec(plate, tmp_path).with_changes(params={"model": "sd15"}))


def test_a_server_without_roots_refuses_shared_paths(plate: str, tmp_path: Path) -> None:
    with (
        serve() as (_, address),
        StyleLockClient(address) as client,
        pytest.raises(PathNotAllowedError, match="shares no folders"),
    ):
        client.submit(_spec(plate, tmp_path))


def _upload(stub, chunks):
    return stub.UploadFrames(iter(chunks))


def _inline_job(stub, plate: str, tmp_path: Path, frames: str = "1-3") -> str:
    spec = _spec(plate, tmp_path, frames=frames)
    return stub.SubmitJob(pb.SubmitJobRequest(spec_json=spec.to_json(), inline=True)).job_id


def _frame_bytes(plate: str, frame: int) -> bytes:
    return Path(plate.replace("####", f"{frame:04d}")).read_bytes()


def test_bad_uploads_get_their_status_and_drop_the_job(server, plate: str, tmp_path: Path) -> None:
    srv, address = server
    good = _frame_bytes(plate, 1)
    big = (good * 10)[:90_000]
    magic_garbage = b"\x76\x2f\x31\x01" + os.urandom(3000)
    cases = [
        (
            [dict(frame=1, chunk_index=1, last=True, data=good)],
            grpc.StatusCode.INVALID_ARGUMENT,
            "where chunk 0",
        ),
        (
            [dict(frame=1, chunk_index=0, data=good[:100]), dict(frame=2, chunk_index=0, data=good)],
            grpc.StatusCode.INVALID_ARGUMENT,
            "before the last chunk of frame 1",
        ),
        ([dict(frame=9, chunk_index=0, last=True, data=good)], grpc.StatusCode.INVALID_ARGUMENT, "not among"),
        (
            [dict(style_index=0, chunk_index=0, last=True, data=good)],
            grpc.StatusCode.INVALID_ARGUMENT,
            "0 style",
        ),
        ([dict(chunk_index=0, last=True, data=good)], grpc.StatusCode.INVALID_ARGUMENT, "neither a frame"),
        (
            [dict(frame=1, chunk_index=0, last=True, data=os.urandom(5000))],
            grpc.StatusCode.DATA_LOSS,
            "not an EXR",
        ),
        (
            [dict(frame=1, chunk_index=0, last=True, data=good)],
            grpc.StatusCode.INVALID_ARGUMENT,
            "2 files missing",
        ),
        (
            [dict(frame=1, chunk_index=i, last=i == 2, data=big) for i in range(3)],
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "limit of 200000 bytes",
        ),
        (
            [dict(frame=f, chunk_index=0, last=True, data=magic_garbage) for f in (1, 2, 3)],
            grpc.StatusCode.DATA_LOSS,
            "uploaded frame 1 is not a valid OpenEXR file",
        ),
    ]
    channel, stub = _stub(address)
    with channel:
        for chunks, code, needle in cases:
            job_id = _inline_job(stub, plate, tmp_path)
            spool = srv.manager.spool_root / job_id
            assert spool.is_dir()
            error = _rpc_error(_upload, stub, [pb.UploadChunk(job_id=job_id, **c) for c in chunks])
            assert error.code() == code, error.details()
            assert needle in error.details(), error.details()
            assert not spool.exists()
            events = list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id)))
            assert events[-1].kind == pb.EVENT_KIND_ERROR and events[-1].code == code.name
        error = _rpc_error(
            _upload, stub, [pb.UploadChunk(job_id="nope", frame=1, chunk_index=0, last=True, data=good)]
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND and _error_type(error) == "UnknownJobError"
        error = _rpc_error(_upload, stub, [])
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    _healthy(address)
    # ... and a good job still runs.
    assert run_remote(address, _spec(plate, tmp_path / "after"), inline=True) == [1, 2, 3]


def test_unknown_jobs_are_not_found(server) -> None:
    _, address = server
    with StyleLockClient(address) as client:
        with pytest.raises(UnknownJobError, match="no job 'nope'"):
            list(client.watch("nope"))
        with pytest.raises(UnknownJobError):
            client.cancel("nope")


def test_a_client_that_vanishes_mid_upload_frees_the_job(server, plate: str, tmp_path: Path) -> None:
    srv, address = server
    channel, stub = _stub(address)
    sent, gone = threading.Event(), threading.Event()

    def chunks(job_id: str):
        yield pb.UploadChunk(job_id=job_id, frame=1, chunk_index=0, data=_frame_bytes(plate, 1)[:1000])
        sent.set()
        gone.wait(30)  # the client hangs, then goes away

    with channel:
        job_id = _inline_job(stub, plate, tmp_path)
        call = stub.UploadFrames.future(chunks(job_id))
        sent.wait(5)
        wait_for(lambda: srv.manager.get(job_id).uploading)
        call.cancel()  # gone, without ever closing its stream (the generator still hangs)
        wait_for(lambda: srv.manager.get(job_id).state == "failed")
        gone.set()
    assert not (srv.manager.spool_root / job_id).exists()
    # grpc reports a cancelled client stream either as an error or, at times, as a plain end of
    # stream; the job is freed either way, and the message says which the server saw.
    message = srv.manager.get(job_id).message
    assert "went away" in message or "ended with 3 files missing" in message
    _healthy(address)


def test_an_engine_bug_is_internal_and_the_server_survives(monkeypatch, plate: str, tmp_path: Path) -> None:
    register_engine(monkeypatch, BrokenEngine)
    with serve(allow_roots=[Path(plate).parents[1], tmp_path]) as (_, address):
        with pytest.raises(ServerInternalError, match="ZeroDivisionError: a bug in an engine"):
            run_remote(address, _spec(plate, tmp_path, engine="test-broken"), inline=False)
        assert [p.name for p in tmp_path.iterdir()] == ["o.0001.exr"]  # the frame before the bug
        _healthy(address)


def test_the_queue_limit_is_resource_exhausted(monkeypatch, plate: str, tmp_path: Path) -> None:
    register_engine(monkeypatch, SlowEngine)
    with (
        serve(allow_roots=[Path(plate).parents[1], tmp_path], max_queue=1, max_active_jobs=1) as (
            srv,
            address,
        ),
        StyleLockClient(address) as client,
    ):
        slow = _spec(plate, tmp_path, engine="test-slow", params={"delay": 0.3})
        first = client.submit(slow)
        wait_for(lambda: srv.manager.get(first).state == "running")
        client.submit(slow.with_changes(output=OutputSettings(str(tmp_path / "b.####.exr"))))
        with pytest.raises(ResourceLimitError, match="queue is full"):
            client.submit(slow.with_changes(output=OutputSettings(str(tmp_path / "c.####.exr"))))
        for job in client.jobs():
            client.cancel(job.job_id)


def test_a_server_going_down_ends_jobs_with_unavailable(monkeypatch, plate: str, tmp_path: Path) -> None:
    register_engine(monkeypatch, SlowEngine)
    failures: list[BaseException] = []
    started = threading.Event()
    spec = _spec(plate, tmp_path, engine="test-slow", params={"delay": 0.3})

    def client_side(address: str) -> None:
        try:
            run_remote(
                address, spec, inline=True, on_event=lambda e: e.kind == "frame_started" and started.set()
            )
        except BaseException as exc:
            failures.append(exc)

    with serve(allow_roots=[tmp_path]) as (srv, address):
        thread = threading.Thread(target=client_side, args=(address,))
        thread.start()
        started.wait(10)
        srv.manager.shutdown(timeout=10)  # what SIGTERM does first; the gRPC server is still up
        thread.join(10)
        with StyleLockClient(address) as client, pytest.raises(ServerUnavailableError, match="shutting down"):
            client.submit(spec, inline=True)
    assert len(failures) == 1 and isinstance(failures[0], ServerUnavailableError)
    assert "shut down" in str(failures[0])


def test_an_unreachable_server_is_unavailable_naming_the_address() -> None:
    with (
        StyleLockClient("127.0.0.1:1", timeout=2) as client,
        pytest.raises(ServerUnavailableError, match=r"127\.0\.0\.1:1"),
    ):
        client.info()


def test_corrupt_frames_with_an_exr_magic_fail_the_job_not_the_server(
    server, plate: str, tmp_path: Path
) -> None:
    _, address = server
    broken = tmp_path / "broken"
    broken.mkdir()
    for frame in (1, 2):
        data = _frame_bytes(plate, frame)
        (broken / f"b.{frame:04d}.exr").write_bytes(data[: len(data) // 2] if frame == 2 else data)
    spec = _spec(str(broken / "b.####.exr"), tmp_path, frames="1-2")
    for inline in (True, False):
        with pytest.raises(CorruptFrameError):
            run_remote(
                address,
                spec.with_changes(output=OutputSettings(str(tmp_path / f"o{inline}" / "o.####.exr"))),
                inline=inline,
            )
    _healthy(address)


KILLED_UPLOADER = """
import sys, time
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.v1 import stylelock_pb2 as pb, stylelock_pb2_grpc as pb_grpc
import grpc
address, plate, out = sys.argv[1:4]
stub = pb_grpc.StyleLockStub(grpc.insecure_channel(address))
spec = JobSpec(plate=plate, frames="1-3", engine="passthrough", output=OutputSettings(out))
job = stub.SubmitJob(pb.SubmitJobRequest(spec_json=spec.to_json(), inline=True)).job_id
print(job, flush=True)
data = open(plate.replace("####", "0001"), "rb").read()
def chunks():
    for index in range(1_000_000):
        yield pb.UploadChunk(job_id=job, frame=1, chunk_index=index, data=data[:64])
        time.sleep(0.01)
stub.UploadFrames(chunks())
"""


def test_a_client_process_killed_mid_upload_frees_the_job(server, plate: str, tmp_path: Path) -> None:
    srv, address = server
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_UPLOADER, address, plate, str(tmp_path / "o.####.exr")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        job_id = process.stdout.readline().strip()
        wait_for(lambda: srv.manager.get(job_id).uploading)
    finally:
        process.kill()
        process.wait(10)
    wait_for(lambda: srv.manager.get(job_id).state == "failed")
    assert not (srv.manager.spool_root / job_id).exists()
    _healthy(address)
