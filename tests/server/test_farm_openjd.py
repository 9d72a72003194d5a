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
