"""`stylelock farm openjd`: the job bundle validates with the OpenJD model and runs with the real
`openjd` CLI (a StyleLock server per session), giving the bytes of one in-process run."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest
import yaml
from openjd.model import decode_job_template

from stylelock.core.farm.openjd import build_template, chunk_ranges, openjd_range
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.core.qc import run_qc
from stylelock.core.sample import write_sample_plate
from stylelock.server import farm_session
from stylelock.server.cli import main as cli
from stylelock.server.cli.demo import paint_over

FIRST, LAST, CHUNK = 1001, 1016, 8


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("farm")
    plate = write_sample_plate(folder / "plate", frames=list(range(FIRST, LAST + 1)), width=128, height=72)
    paint = paint_over(plate, FIRST, folder / "paint" / f"p.{FIRST}.exr")
    return {"folder": str(folder), "plate": plate, "style": f"{FIRST}={paint}"}


def _flags(shot: dict[str, str], out: Path) -> list[str]:
    return [shot["plate"], "--frames", f"{FIRST}-{LAST}", "--style", shot["style"], "--out", str(out)]


def test_the_bundle_runs_under_openjd_and_matches_one_in_process_run(shot, tmp_path):
    folder = Path(shot["folder"])
    bundle, out = folder / "bundle", folder / "farm" / "o.####.exr"
    command = shutil.which("stylelock")
    assert command, "the stylelock command is installed with the project"
    flags = ["--bundle", str(bundle), "--chunk", str(CHUNK), "--command", command]
    assert cli(["farm", "openjd", *_flags(shot, out), *flags]) == 0

    template = yaml.safe_load((bundle / "template.yaml").read_text())
    decode_job_template(template=template, supported_extensions=["TASK_CHUNKING"])  # raises when invalid
    values = yaml.safe_load((bundle / "parameter_values.yaml").read_text())
    assert {p["name"] for p in template["parameterDefinitions"]} == set(values)  # every parameter filled
    assert JobSpec.from_json((bundle / "job.json").read_text()).engine == "keyframe"

    run = subprocess.run(
        ["openjd", "run", str(bundle / "template.yaml"), "-p", f"file://{bundle / 'parameter_values.yaml'}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Chunks run: 2" in run.stdout and "openjd_progress: 100.0" in run.stdout
    assert run.stdout.count("listening on") == 0  # the server's output goes to its log, not the task's

    single = folder / "single" / "o.####.exr"
    assert cli(["restyle", *_flags(shot, single)]) == 0
    for frame in range(FIRST, LAST + 1):
        name = f"o.{frame}.exr"
        assert (out.parent / name).read_bytes() == (single.parent / name).read_bytes(), frame

    report = run_qc(shot["plate"], str(out), f"{FIRST}-{LAST}", report_dir=tmp_path / "qc")
    errors = {f.frame: f.temporal.short.output for f in report.per_frame if f.temporal.short is not None}
    median = statistics.median(errors.values())
    for boundary in range(FIRST + CHUNK, LAST + 1, CHUNK):  # the pair (boundary - 1, boundary)
        assert errors[boundary] <= 1.2 * median, (boundary, errors[boundary], median)


def test_paths_are_job_parameters_for_path_mapping_and_ranges_are_openjd_expressions(tmp_path):
    spec = JobSpec(
        plate="/shows/a/plate/plate.####.exr",
        frames="1001-1011x2",
        styles=(StyleReference("/shows/a/paint/p.1001.exr", 1001), StyleReference("/refs/look.png")),
        mask="/shows/a/matte/m.####.exr",
        guides={"depth": "depth.Z", "edges": "/shows/a/edges/e.####.png"},
        output=OutputSettings("/shows/a/out/o.####.exr"),
    )
    template, values = build_template(spec, chunk=2)
    assert values["PlateDir"] == "/shows/a/plate" and values["PlateName"] == "plate.####.exr"
    assert values["Frames"] == "1001-1011:2" and values["Style2"] == "/refs/look.png"
    assert {"MaskDir", "Guide_edgesDir"} <= set(values) and "Guide_depthDir" not in values
    (task,) = template["steps"][0]["parameterSpace"]["taskParameterDefinitions"]
    assert task["chunks"]["rangeConstraint"] == "NONCONTIGUOUS"  # a stepped range
    args = template["steps"][0]["script"]["actions"]["onRun"]["args"]
    assert "1001={{Param.Style1}}" in args and "{{Param.Style2}}" in args
    assert "edges={{Param.Guide_edgesDir}}/{{Param.Guide_edgesName}}" in args
    decode_job_template(template=template, supported_extensions=["TASK_CHUNKING"])
    listed, _ = build_template(spec, chunk=2, task_chunking=False)
    assert "extensions" not in listed
    assert listed["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"] == [
        "1001,1003",
        "1005,1007",
        "1009,1011",
    ]
    decode_job_template(template=listed, supported_extensions=[])
    assert chunk_ranges([1, 2, 3, 4, 5], 2) == ["1-2", "3-4", "5"] and openjd_range([7]) == "7"


def test_a_session_named_server_is_used_and_never_stopped(tmp_path):
    state = tmp_path / "s.json"
    assert farm_session.start(state, server="gpu7:50151") == "gpu7:50151"
    assert farm_session.address(state) == "gpu7:50151"
    assert farm_session.stop(state) is False  # not ours to stop
    assert json.loads(state.read_text()) == {"address": "gpu7:50151"}
    with pytest.raises(Exception, match="did not start"):
        farm_session.address(tmp_path / "missing.json")


def test_a_session_server_stops_itself_when_idle_and_stop_never_kills_a_stranger(tmp_path):
    import sys
    import time

    started = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylelock.server.cli",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--idle-exit-s",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # returns by itself: nothing to do for a second
    assert started.returncode == 0 and "idle for 1 s" in started.stdout
    stranger = subprocess.Popen(["sleep", "30"])  # a pid the state file names, not a StyleLock server
    try:
        state = tmp_path / "s.json"
        state.write_text(json.dumps({"address": "127.0.0.1:1", "pid": stranger.pid}))
        assert farm_session.stop(state) is False
        time.sleep(0.2)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_cancelled_farm_task_cancels_its_job_on_the_server(shot, tmp_path, monkeypatch):
    import signal
    import sys
    import time

    from grpc_fixtures import SlowEngine, register_engine, serve, wait_for

    register_engine(monkeypatch, SlowEngine)
    state = tmp_path / "state.json"
    with serve(allow_roots=[shot["folder"]]) as (server, address):
        farm_session.start(state, server=address)
        code = (
            f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
            "from stylelock.server.cli import main\n"
            f"sys.exit(main(['farm', 'task', {shot['plate']!r}, '--frames', '{FIRST}-{LAST}', '--engine',"
            f" 'test-slow', '--param', 'delay=0.5', '--out', {str(tmp_path / 'o' / 'o.####.exr')!r},"
            f" '--state', {str(state)!r}]))\n"
        )
        task = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        wait_for(lambda: any(j.state == "running" for j in server.manager.jobs()), timeout=60)
        time.sleep(0.3)
        task.send_signal(signal.SIGTERM)  # what OpenJD's NOTIFY_THEN_TERMINATE sends first
        assert task.wait(60) == 130
        wait_for(
            lambda: {j.state for j in server.manager.jobs(include_ended=True)} == {"cancelled"}, timeout=30
        )
