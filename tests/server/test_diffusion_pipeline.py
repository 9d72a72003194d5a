"""The diffusion engines inside the real pipeline: EXR plate in, EXR out, models from a ModelLibrary."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.exr import read_exr
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.core.sample import write_sample_plate
from stylelock.server.engine_cache import EngineCache
from stylelock.server.engines.diffusion import ModelLibrary
from stylelock.server.pipeline import run_job

FRAMES = "1001-1004"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion-pipeline")
    tm.build_sd(root / "sd")
    tm.build_controlnet(root / "cn-depth", root / "sd")
    tm.build_motion_adapter(root / "motion")
    library = ModelLibrary(
        models={"sd": root / "sd"},
        controlnets={"depth": root / "cn-depth"},
        motion_adapters={"ad": root / "motion"},
    )
    plate = write_sample_plate(root / "plate", frames=range(1001, 1005), width=64, height=40)
    return library, plate


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from tm.one_torch_thread()


def restyle(setup, tmp_path, engine: str, **params):
    library, plate = setup
    options = {name: {"models": library} for name in ("diffusion-image", "diffusion-video")}
    engines = EngineCache(device="auto", engine_options=options)
    spec = JobSpec(
        plate=plate,
        frames=FRAMES,
        engine=engine,
        params={"model": "sd", "prompt": "oil painting", "steps": 4, **params},
        guides={"depth": "depth.Z"} if engine == "diffusion-image" else {},
        output=OutputSettings(pattern=str(tmp_path / engine / "out.####.exr")),
    )
    try:
        return run_job(spec, engines=engines), plate
    finally:
        engines.close()


@pytest.mark.parametrize("engine", ["diffusion-image", "diffusion-video"])
def test_exr_plate_through_a_diffusion_engine(setup, tmp_path, engine):
    extra = {"context": 3, "overlap": 1} if engine == "diffusion-video" else {"batch": 2}
    summary, plate = restyle(setup, tmp_path, engine, **extra)
    assert summary.frames == [1001, 1002, 1003, 1004] and not summary.warnings
    source = read_exr(plate.replace("####", "1002")).main
    styled = read_exr(summary.outputs[1002]).main
    source_rgb, styled_rgb = source.rgb(), styled.rgb()
    assert styled_rgb.shape == source_rgb.shape and np.isfinite(styled_rgb).all()
    assert np.abs(styled_rgb - source_rgb).mean() > 0.01  # restyled
    for name in source.channels:  # alpha and every AOV leave untouched
        if name not in ("R", "G", "B"):
            np.testing.assert_array_equal(styled.pixels[name], source.pixels[name])


def test_replacing_a_model_file_redoes_its_frames_and_nothing_else_does(setup, tmp_path):
    import shutil

    from stylelock.server.engines.diffusion.identity import job_models_identity

    library, _ = setup
    first, _ = restyle(setup, tmp_path, "diffusion-image")
    assert sorted(first.outputs) == [1001, 1002, 1003, 1004] and not first.skipped
    again, _ = restyle(setup, tmp_path, "diffusion-image")
    assert sorted(again.skipped) == [1001, 1002, 1003, 1004]  # nothing changed: nothing made
    before = job_models_identity(library, {"model": "sd"}, {"depth": "depth.Z"})
    moved = ModelLibrary(
        models={"sd": shutil.copytree(library.models["sd"], tmp_path / "elsewhere" / "sd")},
        controlnets=library.controlnets,
    )
    assert job_models_identity(moved, {"model": "sd"}, {"depth": "depth.Z"}) == before  # same content
    config = library.models["sd"] / "unet" / "config.json"
    original = config.read_text()
    try:
        config.write_text(original.replace("{", '{"_note": "retrained", ', 1))  # the model changed
        assert job_models_identity(library, {"model": "sd"}, {"depth": "depth.Z"}) != before
        redone, _ = restyle(setup, tmp_path, "diffusion-image")
        assert redone.skipped == []
    finally:
        config.write_text(original)
    assert job_models_identity(library, {"model": "sd"}, {"depth": "depth.Z"}) != job_models_identity(
        library, {"model": "sd"}, {}
    )  # the ControlNet a guide loads counts
    assert "is neither a registered name" in job_models_identity(library, {"model": "nope"}, {})
