"""The server remembers: a journal of jobs and finished frames survives `kill -9`, leftovers are
swept on restart, a re-run (inline too) makes only what is missing, and SIGTERM drains.

Real `stylelock serve` processes, killed and signalled for real; the tests' slow engine gives time
to do it mid-job.
"""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path

import pytest
from grpc_fixtures import (
    SlowEngine,
    partial_files,
    register_engine,
    serve,
    serve_process,
    tiny_plate,
    wait_for,
)

from stylelock.core.client import StyleLockClient, run_remote
from stylelock.core.client import events as kinds
from stylelock.core.errors import ServerUnavailableError, SpecError
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.core.sequence import FramePattern, parse_frames
from stylelock.server.app import create_server
from stylelock.server.config import ServerConfig
from stylelock.server.journal import Journal

FRAMES = "1001-1010"


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_plate(tmp_path_factory.mktemp("plate"), frames=FRAMES, width=48, height=32)


def slow_spec(plate: str, output: Path, delay: float = 0.15, frames: str = FRAMES) -> JobSpec:
    return JobSpec(
        plate=plate,
        frames=frames,
        engine="test-slow",
        params={"delay": delay},
        output=OutputSettings(pattern=str(output / "o.####.exr")),
    )


def frame_bytes(output: Path) -> dict[int, bytes]:
    return {int(p.name.split(".")[1]): p.read_bytes() for p in sorted(output.glob("o.*.exr"))}


def kill_after(address: str, spec: JobSpec, frames_seen: int, process, *, inline: bool) -> list[int]:
    """Run `spec` on the server and SIGKILL the server once the client has seen `frames_seen` frames
    done; returns the frames the client saw done."""
    seen: list[int] = []

    def on_event(event) -> None:
        if event.kind == kinds.FRAME_DONE:
            seen.append(event.frame)
            if len(seen) == frames_seen:
                process.send_signal(signal.SIGKILL)

    with pytest.raises(Exception):  # noqa: B017 - the connection breaks however the client reports it
        run_remote(address, spec, inline=inline, on_event=on_event)
    process.wait(30)
    return seen


@pytest.mark.parametrize("inline", [False, True], ids=["shared", "inline"])
def test_after_kill_9_the_job_list_is_back_and_a_rerun_makes_only_what_is_missing(
    plate: str, tmp_path: Path, inline: bool
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    flags = ["--allow-root", str(Path(plate).parents[1]), "--allow-root", str(tmp_path)]
    flags = ["--state-dir", str(state), *([] if inline else flags)]
    process, address = serve_process(*flags)
    try:
        seen = kill_after(address, slow_spec(plate, out), 3, process, inline=inline)
    finally:
        process.kill()
    assert len(seen) == 3
    process, address = serve_process(*flags)
    try:
        with StyleLockClient(address) as client:
            (job,) = client.jobs(include_ended=True)
            assert job.state == kinds.FAILED and "interrupted" in job.message
            assert job.frames_done >= 3 and job.frames_total == 10
        assert partial_files(out) == []  # the frame in hand at the kill left nothing behind
        before = frame_bytes(out)
        events = []
        run_remote(address, slow_spec(plate, out), inline=inline, on_event=events.append)  # same settings
    finally:
        process.terminate()
        process.wait(30)
    done = [e for e in events if e.kind == kinds.FRAME_DONE]
    skipped = {e.frame for e in done if e.skipped}
    made = {e.frame for e in done if not e.skipped}
    assert skipped | made == set(parse_frames(FRAMES)) and not skipped & made
    assert set(seen) <= skipped  # every frame finished before the kill is kept, not made again
    assert len(made) <= 10 - 3
    if not inline:
        assert skipped == set(before)  # exactly the complete frames on disk
    assert all(frame_bytes(out)[f] == before[f] for f in seen)
    # every frame equals a clean run in one go
    clean = tmp_path / "clean"
    process, address = serve_process()
    try:
        run_remote(address, slow_spec(plate, clean), inline=True)
    finally:
        process.terminate()
        process.wait(30)
    assert frame_bytes(out) == frame_bytes(clean)
    assert not (state / "spool").exists() or list((state / "spool").iterdir()) == []


def test_a_restart_sweeps_the_leftovers_of_interrupted_jobs_and_lists_them(
    plate: str, tmp_path: Path
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    out.mkdir()
    spec = slow_spec(plate, out)
    journal = Journal(state)  # what a server killed mid-frame 1002 leaves in its journal
    journal.submitted("abc123def456", "local", "", spec.to_json(), False, kinds.QUEUED, 1.0)
    journal.state("abc123def456", kinds.RUNNING, started=2.0)
    journal.frame_done("abc123def456", 1001)
    journal.close()
    torn = out / ".o.1002.exr.4242.deadbeef.tmp"  # a frame's temporary file, as the writer names it
    torn.write_bytes(b"\0" * 100)
    unrelated = out / ".o.1002.exr.notes"
    unrelated.write_text("someone's file")
    stale_spool = state / "spool" / "0123456789ab"
    stale_spool.mkdir(parents=True)
    (stale_spool / "frame.0001.exr").write_bytes(b"\0")
    config = ServerConfig(state_dir=str(state), allow_roots=(str(tmp_path),))
    server, address = create_server("127.0.0.1:0", config=config)
    server.start()
    try:
        assert not torn.exists() and unrelated.exists()
        assert not stale_spool.exists()
        with StyleLockClient(address) as client:
            (job,) = client.jobs(include_ended=True)
            assert job.job_id == "abc123def456" and job.state == kinds.FAILED
            assert "interrupted" in job.message and "1 of 10 frames" in job.message
            (event,) = list(client.watch(job.job_id))  # a late watcher learns how it ended
            assert event.kind == kinds.ERROR and event.code == "UNAVAILABLE"
        with pytest.raises(SpecError, match="in use by another StyleLock server"):
            create_server("127.0.0.1:0", config=config)
    finally:
        server.stop(1).wait(10)
    server, _ = create_server("127.0.0.1:0", config=config)  # stopping released the folder
    server.stop(0)


def test_an_inline_rerun_takes_its_frames_from_the_result_cache(
    plate: str, tmp_path: Path, monkeypatch
) -> None:
    register_engine(monkeypatch, SlowEngine)
    with serve() as (_, address):
        first = run_remote(address, slow_spec(plate, tmp_path / "a", delay=0.0), inline=True)
        events = []
        run_remote(address, slow_spec(plate, tmp_path / "b", delay=0.0), inline=True, on_event=events.append)
        fresh = []
        spec = slow_spec(plate, tmp_path / "c", delay=0.0)
        spec = spec.with_changes(output=OutputSettings(pattern=spec.output.pattern, resume=False))
        run_remote(address, spec, inline=True, on_event=fresh.append)
    assert first == parse_frames(FRAMES)
    assert all(e.skipped for e in events if e.kind == kinds.FRAME_DONE)
    assert not any(e.skipped for e in fresh if e.kind == kinds.FRAME_DONE)  # no resume: all made anew
    assert frame_bytes(tmp_path / "a") == frame_bytes(tmp_path / "b") == frame_bytes(tmp_path / "c")


def test_a_changed_plate_frame_is_made_again_inline(plate: str, tmp_path: Path) -> None:
    copy = tmp_path / "plate"
    shutil.copytree(Path(plate).parent, copy)
    pattern = FramePattern.parse(str(copy / Path(plate).name))
    spec = JobSpec(plate=pattern.pattern, frames=FRAMES, engine="passthrough")
    with serve() as (_, address):
        run_remote(
            address, spec.with_changes(output=OutputSettings(str(tmp_path / "a" / "o.####.exr"))), inline=True
        )
        Path(pattern.path(1005)).write_bytes(Path(pattern.path(1006)).read_bytes())  # re-rendered
        events = []
        again = spec.with_changes(output=OutputSettings(str(tmp_path / "b" / "o.####.exr")))
        run_remote(address, again, inline=True, on_event=events.append)
    made = {e.frame for e in events if e.kind == kinds.FRAME_DONE and not e.skipped}
    assert made == {1005}  # passthrough reads only its own frame (its temporal contract)
    a, b = frame_bytes(tmp_path / "a"), frame_bytes(tmp_path / "b")
    assert all(a[f] == b[f] for f in a if f != 1005) and a[1005] != b[1005]


def _sigterm_after_first_frame(address: str, spec: JobSpec, process) -> list:
    events: list = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            run_remote(address, spec, on_event=events.append)
        except BaseException as exc:  # the job's end, whatever it is, is checked below
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(lambda: any(e.kind == kinds.FRAME_DONE for e in events), timeout=60)
    process.send_signal(signal.SIGTERM)
    thread.join(120)
    assert process.wait(60) == 0
    return [events, failure]


def test_sigterm_lets_running_jobs_finish_within_the_drain(plate: str, tmp_path: Path) -> None:
    roots = ["--allow-root", str(tmp_path), "--allow-root", str(Path(plate).parents[1])]
    process, address = serve_process(*roots, "--drain-s", "120")
    events, failure = _sigterm_after_first_frame(
        address, slow_spec(plate, tmp_path / "o", delay=0.2), process
    )
    assert not failure and events[-1].kind == kinds.FINISHED
    assert len(frame_bytes(tmp_path / "o")) == 10


def test_sigterm_stops_running_jobs_at_a_frame_when_the_drain_ends(plate: str, tmp_path: Path) -> None:
    roots = ["--allow-root", str(tmp_path), "--allow-root", str(Path(plate).parents[1])]
    process, address = serve_process(*roots, "--drain-s", "0.5")
    out = tmp_path / "o"
    events, failure = _sigterm_after_first_frame(address, slow_spec(plate, out, delay=0.4), process)
    assert len(failure) == 1 and isinstance(failure[0], ServerUnavailableError)
    done = [e.frame for e in events if e.kind == kinds.FRAME_DONE]
    assert 1 <= len(done) < 10
    assert sorted(frame_bytes(out)) == sorted(done) and partial_files(out) == []  # whole frames only
