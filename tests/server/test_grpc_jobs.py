"""The job queue through a real server: cancel, fair interleaving, idempotent submits, replays."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_fixtures import SlowEngine, partial_files, register_engine, serve, tiny_plate, wait_for

from stylelock.core.client import StyleLockClient, run_remote
from stylelock.core.errors import JobCancelledError, SpecError
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.core.sequence import FramePattern
from stylelock.server.scheduler import FairScheduler
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_plate(tmp_path_factory.mktemp("jobplate") / "plate", frames="1-8", width=32, height=24)


@pytest.fixture(autouse=True)
def slow_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    register_engine(monkeypatch, SlowEngine)


def _spec(
    plate: str, out: Path, frames: str = "1-8", delay: float = 0.0, engine: str = "test-slow"
) -> JobSpec:
    return JobSpec(
        plate=plate,
        frames=frames,
        engine=engine,
        params={"delay": delay} if engine == "test-slow" else {},
        output=OutputSettings(str(out / "o.####.exr")),
    )


def _roots(plate: str, tmp_path: Path) -> list[Path]:
    return [Path(plate).parents[1], tmp_path]


@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("inline", [True, False], ids=["inline", "shared"])
def test_cancel_mid_job_stops_within_one_frame_and_leaves_no_partial_file(
    plate: str, tmp_path: Path, transport: str, inline: bool
) -> None:
    cancel = threading.Event()
    events: list = []

    def on_event(event) -> None:
        events.append(event)
        if event.kind == "frame_done":
            cancel.set()

    out = tmp_path / "out"
    with serve(transport, allow_roots=_roots(plate, tmp_path)) as (srv, address):
        with pytest.raises(JobCancelledError):
            run_remote(
                address, _spec(plate, out, delay=0.15), inline=inline, on_event=on_event, cancel=cancel
            )
        with StyleLockClient(address) as client:
            assert client.health() == "SERVING"
            (info,) = client.jobs(include_ended=True)
        job = srv.manager.get(info.job_id)
        spool_left = list(srv.manager.spool_root.iterdir())
    assert info.state == "cancelled" and events[-1].kind == "cancelled"
    started_before = {
        e.frame for e in job.events if e.kind == "frame_started" and e.time <= job.cancel_requested
    }
    started_after = {
        e.frame for e in job.events if e.kind == "frame_started" and e.time > job.cancel_requested
    }
    finished = sorted(e.frame for e in events if e.kind == "frame_done")
    # No frame starts after the cancel; the one in hand is finished and written whole.
    assert started_after == set()
    assert set(finished) == started_before and len(finished) < 8
    assert job.ended - job.cancel_requested < 0.15 + 1.0
    on_disk = sorted(p.name for p in out.iterdir())
    assert on_disk == [Path(FramePattern.parse(str(out / "o.####.exr")).path(f)).name for f in finished]
    assert partial_files(out) == []
    assert spool_left == []


def test_jobs_from_two_clients_alternate_frame_by_frame(plate: str, tmp_path: Path) -> None:
    with serve(allow_roots=_roots(plate, tmp_path), max_active_jobs=2) as (srv, address):
        scheduler = srv.manager.scheduler
        with StyleLockClient(address) as one, StyleLockClient(address) as two:
            # Hold the device until both jobs wait for it, so they start on an equal footing.
            with scheduler.turn("test-holder"):
                a = one.submit(_spec(plate, tmp_path / "a", frames="1-6", delay=0.01))
                b = two.submit(_spec(plate, tmp_path / "b", frames="1-6", delay=0.01))
                wait_for(lambda: scheduler.waiting() == 2)
            ends = [list(one.watch(a))[-1].kind, list(two.watch(b))[-1].kind]
        assert ends == ["finished", "finished"]
        started = sorted(
            (event.time, event.seq, job)
            for job in (a, b)
            for event in srv.manager.get(job).events
            if event.kind == "frame_started"
        )
        order = [job for _, _, job in started]
        assert len(order) == 12
        assert all(order[i] != order[i + 1] for i in range(11)), order
        turns = [j for j in scheduler.history if j in (a, b)]
        assert all(turns[i] != turns[i + 1] for i in range(12)), turns


def test_fair_scheduler_serves_the_least_recently_served_waiter() -> None:
    scheduler = FairScheduler()
    order: list[str] = []
    gate = threading.Event()

    def worker(name: str, turns: int) -> None:
        gate.wait()
        for _ in range(turns):
            with scheduler.turn(name):
                order.append(name)
                time.sleep(0.002)

    with scheduler.turn("holder"):
        threads = [threading.Thread(target=worker, args=(n, t)) for n, t in (("a", 4), ("b", 4), ("c", 2))]
        for thread in threads:
            thread.start()
        gate.set()
        wait_for(lambda: scheduler.waiting() == 3)
    for thread in threads:
        thread.join(10)
    assert sorted(order[:3]) == ["a", "b", "c"]
    assert order[3:6] == order[:3]  # round robin while all three are busy
    assert order[6:] in (["a", "b", "a", "b"], ["b", "a", "b", "a"])


def test_a_retried_submit_returns_the_same_job(plate: str, tmp_path: Path) -> None:
    with serve(allow_roots=_roots(plate, tmp_path)) as (srv, address):
        spec = _spec(plate, tmp_path, frames="1-2", engine="passthrough")
        with StyleLockClient(address) as client:
            first = client.submit(spec, idempotency_key="render-42")
            list(client.watch(first))
            again = client.submit(spec, idempotency_key="render-42")
            inline_again = client.submit(spec, idempotency_key="render-43", inline=True)
            assert client.submit(spec, idempotency_key="render-43", inline=True) == inline_again
            with pytest.raises(SpecError, match="already used for another job"):
                client.submit(spec.with_changes(frames="1"), idempotency_key="render-42")
            jobs = client.jobs(include_ended=True)
        assert again == first
        assert [j.job_id for j in jobs] == [first, inline_again]
        assert (jobs[0].output, jobs[0].frames) == (os.path.abspath(spec.output.pattern), "1-2")  # to open
        assert len([e for e in srv.manager.get(first).events if e.kind == "started"]) == 1


def test_queue_positions_replays_and_cancelling_a_queued_job(plate: str, tmp_path: Path) -> None:
    with (
        serve(allow_roots=_roots(plate, tmp_path), max_active_jobs=1) as (srv, address),
        StyleLockClient(address) as client,
    ):
        running = client.submit(_spec(plate, tmp_path / "r", frames="1-3", delay=0.2))
        wait_for(lambda: srv.manager.get(running).state == "running")
        second = client.submit(_spec(plate, tmp_path / "s", frames="1"))
        third = client.submit(_spec(plate, tmp_path / "t", frames="1"))
        assert [j.position for j in client.jobs()] == [None, 0, 1]
        assert client.cancel(second) == "cancelled"
        events = list(client.watch(third))
        assert [e.position for e in events if e.kind == "queued"] == [1, 0]
        assert events[-1].kind == "finished"
        second_events = list(client.watch(second))
        assert [e.kind for e in second_events] == ["queued", "cancelled"]
        assert not (tmp_path / "s").exists() or not list((tmp_path / "s").iterdir())
        replay = list(client.watch(third, after_seq=events[2].seq))
        assert replay == events[3:]


def test_a_vanished_watcher_does_not_cancel_the_job(plate: str, tmp_path: Path) -> None:
    with serve(allow_roots=_roots(plate, tmp_path)) as (srv, address):
        channel = grpc.insecure_channel(address)
        stub = pb_grpc.StyleLockStub(channel)
        with StyleLockClient(address) as client:
            job_id = client.submit(_spec(plate, tmp_path, frames="1-4", delay=0.05))
        stream = stub.WatchJob(pb.WatchJobRequest(job_id=job_id))
        next(stream)
        stream.cancel()
        channel.close()
        wait_for(lambda: srv.manager.get(job_id).state == "finished")
        assert len(list(tmp_path.glob("o.*.exr"))) == 4


def test_stalled_uploads_and_undelivered_spools_expire(plate: str, tmp_path: Path) -> None:
    with serve(upload_timeout_s=0.2, spool_ttl_s=0.2) as (srv, address):
        channel = grpc.insecure_channel(address)
        stub = pb_grpc.StyleLockStub(channel)
        spec = _spec(plate, tmp_path, frames="1", engine="passthrough")
        stalled = stub.SubmitJob(pb.SubmitJobRequest(spec_json=spec.to_json(), inline=True)).job_id
        served = stub.SubmitJob(pb.SubmitJobRequest(spec_json=spec.to_json(), inline=True)).job_id
        data = Path(FramePattern.parse(plate).path(1)).read_bytes()
        stub.UploadFrames(iter([pb.UploadChunk(job_id=served, frame=1, chunk_index=0, last=True, data=data)]))
        spool = srv.manager.spool_root
        wait_for(lambda: srv.manager.get(stalled).state == "failed")
        wait_for(lambda: srv.manager.get(served).state == "finished" and not (spool / served).exists())
        assert not (spool / stalled).exists()
        assert "did not arrive within 0.2 s" in srv.manager.get(stalled).message
        channel.close()


def test_cancelling_during_the_upload_drops_the_job_and_its_spool(plate: str, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with serve() as (srv, address):
        with pytest.raises(JobCancelledError, match="during its upload"):
            run_remote(
                address, _spec(plate, tmp_path / "out", engine="passthrough"), inline=True, cancel=cancel
            )
        (job,) = srv.manager.jobs(include_ended=True)
        assert job.state == "cancelled"
        assert list(srv.manager.spool_root.iterdir()) == []
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
