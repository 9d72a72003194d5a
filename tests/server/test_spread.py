"""One job over several servers (`restyle --server a,b`), `restyle --json`, and re-runs counted from
the job events: nothing changed, a parameter changed, one plate frame replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from grpc_fixtures import serve, serve_process, wait_for

from stylelock.core.client.spread import resolve_servers, split_chunks
from stylelock.core.errors import SpecError
from stylelock.core.exr import read_exr, write_exr
from stylelock.core.sample import write_sample_plate
from stylelock.server import engines
from stylelock.server.cli import main as cli
from stylelock.server.cli.demo import paint_over

FIRST, LAST = 1001, 1012


@pytest.fixture
def shot(tmp_path: Path) -> dict[str, str]:
    plate = write_sample_plate(tmp_path / "plate", frames=list(range(FIRST, LAST + 1)), width=96, height=54)
    paint = paint_over(plate, FIRST, tmp_path / "paint" / f"p.{FIRST}.exr")
    return {"plate": plate, "style": f"{FIRST}={paint}"}


def restyle(shot: dict[str, str], out: Path, *extra: str) -> list[str]:
    return [
        "restyle",
        shot["plate"],
        "--frames",
        f"{FIRST}-{LAST}",
        "--style",
        shot["style"],
        "--out",
        str(out),
        *extra,
    ]


def events(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def same_frames(a: Path, b: Path) -> None:
    for frame in range(FIRST, LAST + 1):
        assert (a.parent / a.name.replace("####", str(frame))).read_bytes() == (
            b.parent / b.name.replace("####", str(frame))
        ).read_bytes(), frame


def test_split_and_resolve():
    assert split_chunks(list(range(1, 11)), 3) == [[1, 2, 3, 4], [5, 6, 7], [8, 9, 10]]
    assert split_chunks([5], 4) == [[5]]
    assert resolve_servers("a:1, b:2") == ["a:1", "b:2"]
    assert resolve_servers("localhost:50151") == ["localhost:50151"]  # one host, whatever its families
    assert resolve_servers("unix:///tmp/s.sock") == ["unix:///tmp/s.sock"]
    with pytest.raises(SpecError, match="host:port"):
        resolve_servers("gpu1")


def test_two_servers_give_the_bytes_of_one_in_process_run(shot, tmp_path, capsys):
    single = tmp_path / "single" / "s.####.exr"
    assert cli(restyle(shot, single)) == 0
    spread = tmp_path / "spread" / "s.####.exr"
    with serve(allow_roots=[tmp_path]) as (_, a), serve(allow_roots=[tmp_path]) as (_, b):
        capsys.readouterr()
        assert cli(restyle(shot, spread, "--server", f"{a},{b}", "--json")) == 0
    lines = events(capsys)
    done = [e for e in lines if e["event"] == "frame_done"]
    assert sorted(e["frame"] for e in done) == list(range(FIRST, LAST + 1))
    assert {e["server"] for e in done} == {a, b}  # both servers worked, each on a contiguous chunk
    assert all(set(e["seconds"]) >= {"engine", "write"} for e in done)
    assert lines[-1]["event"] == "finished" and lines[-1]["made"] == LAST - FIRST + 1
    same_frames(spread, single)


def _server_process(tmp_path: Path, name: str) -> tuple[subprocess.Popen, str]:
    return serve_process("--allow-root", str(tmp_path), "--spool-dir", str(tmp_path / name))


def test_a_server_killed_mid_job_hands_its_chunk_to_the_other(shot, tmp_path, monkeypatch):
    out = tmp_path / "out" / "o.####.exr"
    steady, a = _server_process(tmp_path, "spool-a")
    doomed, b = _server_process(tmp_path, "spool-b")
    try:
        command = [
            "restyle", shot["plate"], "--frames", f"{FIRST}-{LAST}", "--engine", "test-slow",
            "--param", "delay=0.25", "--out", str(out), "--server", f"{a},{b}", "--json",
        ]  # fmt: skip
        runner = subprocess.Popen(
            [sys.executable, "-m", "stylelock.server.cli", *command], stdout=subprocess.PIPE, text=True
        )
        lines = []
        for line in runner.stdout:
            lines.append(json.loads(line))
            if lines[-1].get("event") == "frame_done" and lines[-1].get("server") == b:
                doomed.send_signal(signal.SIGKILL)  # mid-chunk: the rest of its frames are not made
                break
        lines += [json.loads(line) for line in runner.stdout]
        assert runner.wait(120) == 0
    finally:
        for process in (steady, doomed):
            process.kill()
            process.wait()
    made = {e["frame"] for e in lines if e["event"] == "frame_done"}
    assert made == set(range(FIRST, LAST + 1))
    assert {e["server"] for e in lines if e["event"] == "frame_done"} == {a, b}
    assert not [p for p in out.parent.iterdir() if p.suffix != ".exr"]
    monkeypatch.setitem(engines.BUILTIN_ENGINES, "test-slow", "pipeline_engines:SlowEngine")
    single = tmp_path / "single" / "o.####.exr"
    in_process = [*command[: command.index("--out")], "--out", str(single)]
    assert cli(in_process) == 0
    same_frames(out, single)  # every frame, the bytes of one run in-process


def test_reruns_counted_from_events(shot, tmp_path, capsys):
    out = tmp_path / "o" / "o.####.exr"

    def made(*extra: str) -> list[int]:
        capsys.readouterr()
        assert cli(restyle(shot, out, "--json", *extra)) == 0
        return sorted(e["frame"] for e in events(capsys) if e["event"] == "frame_done" and not e["skipped"])

    assert made() == list(range(FIRST, LAST + 1))
    assert made() == []  # nothing changed
    assert made("--param", "seed=5") == list(range(FIRST, LAST + 1))  # one parameter: every frame
    assert made("--param", "seed=5") == []
    path = Path(shot["plate"].replace("####", "1008"))
    image = read_exr(path)
    image.main.pixels["R"] = (image.main.pixels["R"].astype(np.float32) + 0.01).astype(np.float16)
    write_exr(path, image)
    assert made("--param", "seed=5") == list(range(1008, LAST + 1))  # it and the frames carried on from it


def test_json_errors_carry_the_exit_code(tmp_path, capsys):
    code = cli(
        [
            "restyle",
            str(tmp_path / "none.####.exr"),
            "--frames",
            "1-2",
            "--out",
            str(tmp_path / "o.#.exr"),
            "--engine",
            "passthrough",
            "--json",
        ]
    )
    assert code == 3
    (line,) = events(capsys)
    assert line["event"] == "error" and line["exit_code"] == 3 and line["error"] == "FramesMissingError"
    assert os.path.basename(str(tmp_path)) in line["message"]


@pytest.mark.parametrize("style", ["keyframe", "look image"])
def test_inline_chunks_upload_what_the_engine_reads_and_match_one_run(shot, tmp_path, style):
    """Servers that share no folder get the frames uploaded: a chunk after the keyframe (or the look
    image's frame) uploads the frames back to it, so every chunk gives the bytes of one run."""
    look = tmp_path / "look.png"
    if style == "look image":
        import cv2
        import numpy as np

        rng = np.random.default_rng(3)
        cv2.imwrite(str(look), (rng.random((40, 60, 3)) * 255).astype(np.uint8))
    flags = ["--style", str(look)] if style == "look image" else []
    single = tmp_path / "single" / "s.####.exr"
    assert cli(restyle(shot, single, *flags) if not flags else _look(shot, single, look)) == 0
    spread = tmp_path / "spread" / "s.####.exr"
    with serve() as (_, a), serve() as (_, b):  # no allowed roots: inline transport
        command = restyle(shot, spread) if not flags else _look(shot, spread, look)
        assert cli([*command, "--server", f"{a},{b}"]) == 0
    same_frames(spread, single)


def _look(shot: dict[str, str], out: Path, look: Path) -> list[str]:
    return ["restyle", shot["plate"], "--frames", f"{FIRST}-{LAST}", "--style", str(look), "--out", str(out)]


def test_a_failing_event_callback_stops_the_job_instead_of_hanging_it(shot, tmp_path, monkeypatch):
    import threading

    from stylelock.core.client.spread import run_spread
    from stylelock.core.errors import ServerInternalError
    from stylelock.core.jobspec import JobSpec, OutputSettings

    monkeypatch.setitem(engines.BUILTIN_ENGINES, "test-slow", "pipeline_engines:SlowEngine")
    spec = JobSpec(
        shot["plate"], f"{FIRST}-{LAST}", "test-slow", params={"delay": 0.2},
        output=OutputSettings(str(tmp_path / "o" / "o.####.exr")),
    )  # fmt: skip

    def broken(event, server):  # a consumer that went away (`--json | head`)
        if event.kind == "frame_done":
            raise BrokenPipeError("the reader of the events is gone")

    roots = [tmp_path, Path(shot["plate"]).parent]
    with serve(allow_roots=roots) as (server, a), serve(allow_roots=roots) as (other, b):
        result: dict = {}
        worker = threading.Thread(
            target=lambda: result.setdefault("error", _raises(run_spread, [a, b], spec, on_event=broken))
        )
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "run_spread hung"
        error = result["error"]
        assert isinstance(error, ServerInternalError) and "BrokenPipeError" in error.message

        def settled() -> bool:  # every job cancelled (after the frame in hand) or done: none unwatched
            jobs = [j for m in (server.manager, other.manager) for j in m.jobs(include_ended=True)]
            return bool(jobs) and {j.state for j in jobs} <= {"cancelled", "finished"}

        wait_for(settled, timeout=30)


def _raises(function, *args, **kwargs) -> BaseException | None:
    try:
        function(*args, **kwargs)
    except BaseException as exc:  # the test inspects what it raised
        return exc
    return None
