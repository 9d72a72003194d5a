"""Open streams cannot starve the server: a per-caller and a total cap leave threads for health checks
and cancels, and an upload that goes silent is closed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_fixtures import SlowEngine, register_engine, serve, tiny_plate, wait_for

from stylelock.core.client import StyleLockClient
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.server.app import RPC_THREADS, UNARY_RESERVE
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc


def _slow_job(client: StyleLockClient, tmp_path: Path) -> str:
    plate = tiny_plate(tmp_path / "plate", frames="1001-1020")
    spec = JobSpec(
        plate, "1001-1020", SlowEngine.name, params={"delay": 0.5},
        output=OutputSettings(str(tmp_path / "o" / "o.####.exr")),
    )  # fmt: skip
    return client.submit(spec)


def _open_watches(address: str, job: str, count: int) -> tuple[list, list]:
    """`count` watch streams held open by reading their first event; (calls, refusals)."""
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.StyleLockStub(channel)
    calls, refused = [], []
    for _ in range(count):
        call = stub.WatchJob(pb.WatchJobRequest(job_id=job))
        try:
            next(call)
            calls.append(call)
        except grpc.RpcError as exc:
            refused.append(exc)
    return calls, refused


@pytest.mark.parametrize(("per_client", "cap"), [(16, 16), (1000, RPC_THREADS - UNARY_RESERVE)])
def test_idle_streams_are_capped_and_health_still_answers(tmp_path, monkeypatch, per_client, cap):
    register_engine(monkeypatch, SlowEngine)
    with (
        serve(allow_roots=[tmp_path], max_streams_per_client=per_client) as (_, address),
        StyleLockClient(address) as client,
    ):
        job = _slow_job(client, tmp_path)
        calls, refused = _open_watches(address, job, cap + 4)
        try:
            assert len(calls) == cap and len(refused) == 4
            assert all(r.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for r in refused)
            assert "streams open" in refused[0].details()
            assert client.health() == "SERVING"  # a reserve of threads is never taken by streams
            assert client.cancel(job) in ("cancelled", "running")
        finally:
            for call in calls:
                call.cancel()


def test_a_silent_upload_is_closed_and_its_job_dropped(tmp_path):
    plate = tiny_plate(tmp_path / "plate", frames="1001-1002")
    spec = JobSpec(plate, "1001-1002", "passthrough", output=OutputSettings(str(tmp_path / "o.####.exr")))
    with serve(stall_timeout_s=0.5) as (server, address), grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleLockStub(channel)
        reply = stub.SubmitJob(pb.SubmitJobRequest(spec_json=spec.to_json(), inline=True), timeout=10)
        first = Path(plate.replace("####", "1001")).read_bytes()[:1000]
        silence = threading.Event()

        def chunks():
            yield pb.UploadChunk(job_id=reply.job_id, frame=1001, chunk_index=0, data=first)
            silence.wait(30)  # the client stays connected and sends nothing more

        started = time.monotonic()
        with pytest.raises(grpc.RpcError):
            stub.UploadFrames(chunks(), timeout=30)
        silence.set()
        assert time.monotonic() - started < 10  # closed by the server, not by the client's timeout
        wait_for(lambda: server.manager.get(reply.job_id).state == "failed", timeout=10)
