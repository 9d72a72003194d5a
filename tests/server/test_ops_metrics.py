"""Prometheus metrics over HTTP (`metrics_listen`), scraped for real from a running server: jobs,
frames, engine time, gRPC errors by code (the error boundary's and authentication's), memory; and
the endpoint listens on loopback only unless the server may listen beyond it."""

from __future__ import annotations

import re
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_fixtures import SlowEngine, register_engine, serve, tiny_plate, wait_for

from stylelock.core.client import StyleLockClient, run_remote
from stylelock.core.errors import AuthenticationError, SpecError, UnknownJobError
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.server.app import create_server
from stylelock.server.config import ServerConfig
from stylelock.server.metrics import ENGINE_SECONDS_BUCKETS

SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$'
)


def scrape(address: str) -> dict[str, float]:
    """GET /metrics and check it is Prometheus' text format: every sample of a family declared by
    `# TYPE` before it, numbers that parse. Returns 'name{labels}' -> value."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = reply.read().decode()
    assert text.endswith("\n")
    declared: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram") and name not in declared
            declared[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, line
        name = match.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in declared else name
        assert family in declared, f"{name} has no # TYPE"
        assert declared[family] != "counter" or name.endswith("_total")
        samples[name + (match.group(2) or "")] = float(match.group(3))
    return samples


def _spec(plate: str, out: Path, frames: str = "1001-1003", engine: str = "passthrough", **params) -> JobSpec:
    return JobSpec(
        plate=plate,
        frames=frames,
        engine=engine,
        params=params,
        output=OutputSettings(pattern=str(out / "o.####.exr")),
    )


def test_jobs_frames_and_engine_time_are_counted(tmp_path: Path) -> None:
    plate = tiny_plate(tmp_path / "plate")
    with serve(allow_roots=[tmp_path], metrics_listen="127.0.0.1:0") as (server, address):
        before = scrape(server.metrics_address)
        assert before["stylelock_frames_done_total"] == 0
        assert before['stylelock_jobs_ended_total{state="finished"}'] == 0
        assert before["stylelock_ready"] == 1
        assert run_remote(address, _spec(plate, tmp_path / "a")) == [1001, 1002, 1003]
        # The same job again resumes: nothing is made, three frames are found made.
        assert run_remote(address, _spec(plate, tmp_path / "a")) == [1001, 1002, 1003]
        after = scrape(server.metrics_address)
    assert after["stylelock_frames_done_total"] == 3
    assert after["stylelock_frames_resumed_total"] == 3
    assert after['stylelock_jobs_ended_total{state="finished"}'] == 2
    assert after['stylelock_jobs_ended_total{state="failed"}'] == 0
    assert after["stylelock_engine_seconds_per_frame_count"] == 3
    assert after["stylelock_engine_seconds_per_frame_sum"] > 0
    buckets = [
        after[f'stylelock_engine_seconds_per_frame_bucket{{le="{b:g}"}}'] for b in ENGINE_SECONDS_BUCKETS
    ]
    assert buckets == sorted(buckets) and after['stylelock_engine_seconds_per_frame_bucket{le="+Inf"}'] == 3
    assert after["stylelock_queue_depth"] == 0 and after["stylelock_jobs_running"] == 0
    assert after["process_resident_memory_bytes"] > 10 * 1024 * 1024
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        assert 'stylelock_gpu_memory_allocated_bytes{device="0"}' in after
        assert 'stylelock_gpu_memory_reserved_bytes{device="0"}' in after
    else:
        assert not any(name.startswith("stylelock_gpu_") for name in after)


def test_queue_depth_running_jobs_and_cancelled_jobs(monkeypatch, tmp_path: Path) -> None:
    register_engine(monkeypatch, SlowEngine)
    plate = tiny_plate(tmp_path / "plate", frames="1001-1010")
    settings = {"max_active_jobs": 1, "metrics_listen": "127.0.0.1:0"}
    with serve(allow_roots=[tmp_path], **settings) as (server, address), StyleLockClient(address) as client:
        first = client.submit(_spec(plate, tmp_path / "a", "1001-1010", "test-slow", delay=0.5))
        second = client.submit(_spec(plate, tmp_path / "b", "1001-1010", "test-slow", delay=0.5))
        wait_for(lambda: [j.state for j in client.jobs()] == ["running", "queued"])
        during = scrape(server.metrics_address)
        client.cancel(second)
        client.cancel(first)
        wait_for(lambda: not client.jobs())
        after = scrape(server.metrics_address)
    assert during["stylelock_jobs_running"] == 1 and during["stylelock_queue_depth"] == 1
    assert after["stylelock_jobs_running"] == 0 and after["stylelock_queue_depth"] == 0
    assert after['stylelock_jobs_ended_total{state="cancelled"}'] == 2


def test_grpc_errors_are_counted_by_method_and_code(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("alice alice-token-0123456789\n")
    tokens.chmod(0o600)
    with serve(tokens_file=str(tokens), metrics_listen="127.0.0.1:0") as (server, address):
        with StyleLockClient(address, token="alice-token-0123456789") as alice:
            for _ in range(2):
                with pytest.raises(UnknownJobError):
                    alice.cancel("nope")
            alice.info()
        with StyleLockClient(address, token="") as stranger, pytest.raises(AuthenticationError):
            stranger.jobs()
        with grpc.insecure_channel(address) as channel:  # health is guarded too
            with pytest.raises(grpc.RpcError) as refused:
                channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        samples = scrape(server.metrics_address)
    errors = {k: v for k, v in samples.items() if k.startswith("stylelock_grpc_errors_total")}
    assert errors == {
        'stylelock_grpc_errors_total{method="grpc.health.v1.Health/Check",code="UNAUTHENTICATED"}': 1,
        'stylelock_grpc_errors_total{method="stylelock.v1.StyleLock/CancelJob",code="NOT_FOUND"}': 2,
        'stylelock_grpc_errors_total{method="stylelock.v1.StyleLock/ListJobs",code="UNAUTHENTICATED"}': 1,
    }


def test_the_metrics_endpoint_listens_on_loopback_unless_the_server_may_listen_beyond(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"refusing to serve metrics on 0\.0\.0\.0:0"):
        create_server("127.0.0.1:0", config=ServerConfig(metrics_listen="0.0.0.0:0"))
    with pytest.raises(SpecError, match="must be HOST:PORT"):
        create_server("127.0.0.1:0", config=ServerConfig(metrics_listen="localhost"))
    tokens = tmp_path / "tokens"
    tokens.write_text("alice alice-token-0123456789\n")
    tokens.chmod(0o600)
    config = ServerConfig(metrics_listen="0.0.0.0:0", allow_remote=True, tokens_file=str(tokens))
    server, _ = create_server("127.0.0.1:0", config=config)
    server.start()
    try:
        port = server.metrics_address.rsplit(":", 1)[1]
        assert server.metrics_address.startswith("0.0.0.0:")
        assert scrape(f"127.0.0.1:{port}")["stylelock_ready"] == 1
    finally:
        server.stop(0).wait(10)
    # The endpoint goes with the server.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_gpu_memory_is_reported_where_torch_has_cuda_and_absent_where_it_has_not() -> None:
    import torch  # loaded, as the engines load it

    with serve(metrics_listen="127.0.0.1:0") as (server, _):
        if torch.cuda.is_available():
            held = torch.ones(4 * 1024 * 1024, device="cuda")  # 16 MiB on device 0
            samples = scrape(server.metrics_address)
            assert samples['stylelock_gpu_memory_allocated_bytes{device="0"}'] >= held.numel() * 4
            assert (
                samples['stylelock_gpu_memory_reserved_bytes{device="0"}']
                >= samples['stylelock_gpu_memory_allocated_bytes{device="0"}']
            )
            del held
        else:
            samples = scrape(server.metrics_address)
            assert not any(name.startswith("stylelock_gpu_") for name in samples)
        assert samples["process_resident_memory_bytes"] > 0
