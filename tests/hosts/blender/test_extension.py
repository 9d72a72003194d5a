"""The StyleLock extension in real Blender 4.5 and 5.0, against a real server (see conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from blender_session import VENVS, Session, venv_python
from grpc_fixtures import partial_files

from stylelock.core.client import StyleLockClient
from stylelock.core.exr import read_exr
from stylelock.core.hosts.blender_extension import PLATFORMS, blender_platforms_of_wheel

FRAMES = range(1, 9)
LAYER = "ViewLayer.Combined"


def _channels(path: Path) -> dict[str, np.ndarray]:
    """Every channel of every part, by name, as stored (native dtype)."""
    return {name: values for part in read_exr(str(path)).parts for name, values in part.pixels.items()}


# -- the zip -----------------------------------------------------------------------------------------
def test_the_zip_carries_the_addon_its_manifest_and_wheels_for_every_platform(extension_zip: Path):
    import tomllib

    with zipfile.ZipFile(extension_zip) as archive:
        names = archive.namelist()
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
    assert manifest["schema_version"] == "1.0.0" and manifest["id"] == "stylelock"
    assert manifest["blender_version_min"] == "4.2.0" and "blender_version_max" not in manifest
    assert set(manifest["permissions"]) == {"network", "files"}
    assert sorted(manifest["platforms"]) == sorted(PLATFORMS)
    wheels = [w.removeprefix("./") for w in manifest["wheels"]]
    assert sorted(wheels) == sorted(n for n in names if n.startswith("wheels/"))
    for distribution in ("grpcio", "protobuf"):
        served = set().union(*(blender_platforms_of_wheel(w) for w in wheels if f"/{distribution}-" in w))
        assert served == set(PLATFORMS), distribution
    assert any("/fileseq-" in w for w in wheels) and any("/stylelock_client-" in w for w in wheels)
    heavy = ("numpy", "openimageio", "opencolorio", "opencv", "torch")
    assert not [w for w in wheels if any(f"/{h}" in w.lower() for h in heavy)]
    assert {"__init__.py", "host.py", "runner.py", "bundled_colorspaces.json"} <= set(names)


def test_the_client_wheel_holds_the_thin_client_only(extension_zip: Path, tmp_path: Path):
    with zipfile.ZipFile(extension_zip) as archive:
        name = next(n for n in archive.namelist() if "/stylelock_client-" in n)
        archive.extract(name, tmp_path)
    with zipfile.ZipFile(tmp_path / name) as wheel:
        files = wheel.namelist()
        record = wheel.read(next(f for f in files if f.endswith(".dist-info/RECORD"))).decode()
    assert "stylelock/core/client/connection.py" in files and "stylelock/v1/stylelock_pb2.py" in files
    assert not [
        f for f in files if f.startswith(("stylelock/server/", "stylelock/core/exr", "stylelock/core/colour"))
    ]
    assert all(line.split(",")[0] in files for line in record.splitlines())


@pytest.mark.parametrize("version", sorted(VENVS))
def test_blenders_own_validator_accepts_the_zip(extension_zip: Path, version: str):
    python = venv_python(version)
    validator = next(
        VENVS[version].glob(
            f"lib/python3.*/site-packages/bpy/{version}/scripts/addons_core/bl_pkg/cli/blender_ext.py"
        )
    )
    done = subprocess.run(
        [str(python), str(validator), "validate", str(extension_zip)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "Success" in done.stdout, done.stdout + done.stderr


# -- installed, in a Blender session -----------------------------------------------------------------
def test_the_zip_installs_and_runs_its_own_client(blender: Session):
    install = blender.result["install"]
    assert install["result"] == ["FINISHED"] and install["addon_enabled"]
    site = str(blender.work / "user" / "extensions" / ".local")
    assert install["grpc_file"].startswith(site) and install["client_file"].startswith(site)
    assert blender.result["version"].startswith(blender.version)


def test_engine_parameters_come_from_the_schema_and_are_kept_per_engine(blender: Session):
    result = blender.result
    assert result["refresh"] == ["FINISHED"]
    assert result["keyframe_temporal_weight_default"] == pytest.approx(4.0)
    assert result["engine_via_menu"] == "passthrough"
    assert result["saved_after_switch"]["keyframe"]["softness"] == pytest.approx(0.4)
    assert result["keyframe_softness_after_switch"] == pytest.approx(0.4)
    # The panel drew against this Blender's own UILayout RNA (a missing call or argument raises there).
    assert {"template_list", "prop_search", "panel", "operator"} <= set(result["panel_calls"])


def test_restyle_renders_the_passes_returns_every_frame_and_loads_them_into_the_compositor(blender: Session):
    run = blender.result["vectors"]
    assert run["outcome"] == ["FINISHED"] and run["state"] == "finished", run
    assert run["rendered"] == list(FRAMES) and run["computed"] == list(FRAMES)
    assert run["files"] == [f"restyle.{f:04d}.exr" for f in FRAMES]
    node = run["node"]
    assert node["bl_idname"] == "CompositorNodeImage" and node["image_source"] == "SEQUENCE"
    assert node["tree_api"] == ("node_tree" if blender.version == "4.5" else "compositing_node_group")
    restyled = blender.cache / "restyle"
    assert node["files"] == {str(f): str(restyled / f"restyle.{f:04d}.exr") for f in FRAMES}
    assert node["linked_to_viewer"]
    plate = _channels(blender.cache / "plate" / "plate.0004.exr")
    assert {f"ViewLayer.Vector.{c}" for c in "XYZW"} | {"ViewLayer.Depth.Z"} <= set(plate)
    assert run["spec"]["guides"] == {"depth": "ViewLayer.Depth.Z"}
    parts = read_exr(str(blender.cache / "plate" / "plate.0004.exr")).parts
    assert len(parts) == (1 if blender.version == "4.5" else 3)  # Blender 5 writes a part per pass


def test_restyle_again_renders_nothing_and_computes_nothing(blender: Session):
    again = blender.result["again"]
    assert again["state"] == "finished" and again["rendered"] == [] and again["computed"] == []
    assert "8 already up to date" in again["message"]


def test_the_vector_pass_drives_the_engine_and_is_no_worse_than_estimated_flow(blender: Session):
    vectors, estimated = blender.result["vectors"], blender.result["estimated"]
    # flow=vectors fails the job when no frame carries vectors the engine can find.
    assert vectors["spec"]["params"]["flow"] == "vectors" and vectors["state"] == "finished"
    assert vectors["spec"]["params"]["softness"] == pytest.approx(0.4)  # the panel's value reaches the job
    assert estimated["spec"]["params"]["flow"] == "estimated" and estimated["state"] == "finished"
    ratios = {}
    for name in ("vectors", "estimated"):
        command = [
            sys.executable, "-m", "stylelock.server.cli", "qc",
            str(blender.cache / "plate" / "plate.####.exr"),
            str(blender.outputs(name) / "restyle.####.exr"),
            "--frames", "1-8", "--layer", LAYER, "--json",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["flow_sources"] == ["vectors:Vector"]  # qc measures on the render's vectors too
        ratios[name] = report["temporal"]["short"]["ratio"]
    (blender.work / "qc_ratios.json").write_text(json.dumps(ratios))
    print(f"bpy {blender.version} short-term warp-error ratio: {ratios}")
    assert ratios["vectors"] <= ratios["estimated"]


def test_passthrough_round_trips_values_above_one_and_soft_alpha_bit_exact(blender: Session):
    run = blender.result["passthrough"]
    assert run["state"] == "finished" and run["computed"] == list(FRAMES)
    above, soft = 0, 0
    for frame in FRAMES:
        plate = _channels(blender.cache / "plate" / f"plate.{frame:04d}.exr")
        output = _channels(blender.outputs("passthrough") / f"restyle.{frame:04d}.exr")
        assert sorted(output) == sorted(plate)
        for name, values in plate.items():
            assert output[name].dtype == values.dtype
            np.testing.assert_array_equal(output[name].view(np.uint32), values.view(np.uint32), err_msg=name)
        above += int((plate[f"{LAYER}.R"] > 1.0).sum())
        alpha = plate[f"{LAYER}.A"]
        soft += int(((alpha > 0.0) & (alpha < 1.0)).sum())
    assert above > 100 and soft > 10
    assert blender.result["strip"] == {"elements": 8, "start": 1.0}


def test_an_image_sequence_in_a_view_transform_space_goes_through_blenders_own_config(blender: Session):
    run = blender.result["sequence"]
    assert run["state"] == "finished", run["message"]
    colour = run["spec"]["colour"]
    assert colour["input_space"] == "Filmic Log" and colour["config"] == blender.result["blender_ocio"]
    assert run["spec"]["layer"] == LAYER
    for frame in FRAMES:
        plate = _channels(blender.cache / "plate" / f"plate.{frame:04d}.exr")
        output = _channels(blender.outputs("sequence") / f"restyle.{frame:04d}.exr")
        for name, values in plate.items():
            np.testing.assert_array_equal(output[name].view(np.uint32), values.view(np.uint32), err_msg=name)


def test_preview_restyles_around_the_current_frame_at_half_size_in_fast_mode(blender: Session):
    preview = blender.result["preview"]
    assert preview["outcome"] == ["FINISHED"] and preview["seconds"] < 30
    spec = preview["spec"]
    assert spec["frames"] == "2-6" and spec["proxy"] == 0.5 and spec["params"]["mode"] == "styleblit"
    folder = blender.cache / "preview"
    assert preview["node"]["files"]["4"] == str(folder / "preview.0004.exr")
    assert sorted(os.listdir(folder)) == [f"preview.{f:04d}.exr" for f in range(2, 7)]


def test_cancel_stops_the_server_job_and_leaves_only_complete_frames(blender: Session):
    cancel = blender.result["cancel"]
    assert blender.result["cancel_landed_before"], "the job ended before a frame landed"
    assert cancel["state"] == "cancelled" and not cancel["node_loaded"]
    assert len(cancel["computed"]) < cancel["total"] == 8
    with StyleLockClient(blender.address) as client:
        job = next(j for j in client.jobs(include_ended=True) if j.job_id == cancel["job_id"])
    assert job.state == "cancelled"
    folder = Path(cancel["folder"])
    assert partial_files(folder) == []
    left = sorted(os.listdir(folder))
    assert left == [f"restyle.{f:04d}.exr" for f in sorted(cancel["computed"])]
    for name in left:
        assert read_exr(str(folder / name)).main.data_window.width == 160


def test_a_missing_server_is_one_clear_line_in_the_operators_report(blender: Session):
    missing = blender.result["missing_server"]
    assert missing["outcome"] == ["RAISED"]
    line = missing["error"].strip()
    assert "\n" not in line and line.startswith(
        "Error: StyleLock: cannot reach the StyleLock server at 127.0.0.1:"
    )
    assert "Traceback" not in missing["error"]


def test_start_local_server_runs_the_configured_command_once(blender: Session):
    result = blender.result
    assert result["start_server"] == ["FINISHED"] and result["local_answers"]
    assert result["start_again"] == ["FINISHED"] and result["local_processes"] == 1
    # the server keeps its roots resolved; Blender may report its config through a symlinked path
    blender_config_folder = os.path.realpath(os.path.dirname(result["blender_ocio"]))
    assert blender_config_folder in [os.path.realpath(root) for root in result["local_roots"]]


def test_the_access_token_preference_goes_with_every_call(blender: Session):
    result = blender.result
    assert result["local_answers"] and not result["local_answers_without_token"]
    wrong = result["wrong_token"]
    assert wrong["outcome"] == ["RAISED"]
    line = wrong["error"].strip()
    assert "\n" not in line and "access token is not valid" in line
