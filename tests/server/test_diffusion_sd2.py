"""SD 2.x models: a diffusers folder and a single file in the original SD 2.x layout (OpenCLIP text
encoder), told apart from SD 1.x, loaded offline and sampled with their v-prediction."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.errors import EngineError
from stylelock.server.engines.diffusion import DiffusionImageEngine, DiffusionVideoEngine, ModelLibrary
from stylelock.server.engines.diffusion.library import family_of_folder
from stylelock.server.engines.diffusion.loading import single_file_family

BASE = {"model": "sd2", "prompt": "oil painting", "steps": 4, "seed": 7, "batch": 2}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelLibrary:
    root = tmp_path_factory.mktemp("diffusion-sd2")
    tm.build_sd(root / "sd")
    tm.build_sd2(root / "sd2")
    tm.build_sd2_single_file(root / "sd2", root / "sd2-file.safetensors")
    tm.build_motion_adapter(root / "motion")
    return ModelLibrary(
        models={"sd": root / "sd", "sd2": root / "sd2", "sd2-file": root / "sd2-file.safetensors"},
        motion_adapters={"animatediff": root / "motion"},
    )


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_unload_after():
    yield from tm.one_torch_thread()
    DiffusionImageEngine().close()


def run(models: ModelLibrary, frames, **params) -> list[np.ndarray]:
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, **params})
    return list(engine.restyle(shot, iter(frames)))


def test_the_family_is_read_from_the_folder_and_from_the_file(models):
    assert family_of_folder(models.models["sd2"]) == "sd2"
    assert family_of_folder(models.models["sd"]) == "sd"
    assert single_file_family(models.models["sd2-file"]) == "sd2"


def test_an_sd2_folder_restyles_with_v_prediction_whatever_the_scheduler(models):
    frames = tm.translating_plate(count=3)
    first = run(models, frames)
    assert run(models, frames)[2].tobytes() == first[2].tobytes()
    assert all(np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0 for image in first)
    assert np.abs(first[1] - frames[1].rgb).mean() > 0.01  # restyled
    # Every scheduler a job may choose keeps the model's prediction type (read as epsilon, a
    # v-prediction model denoises toward the wrong target).
    import torch

    from stylelock.server.engines.diffusion import loading

    base = loading.load_base(models.resolve_model("sd2"), torch.float32, "cpu", models)
    for name in ("ddim", "euler", "euler_a", "dpmpp_2m"):
        assert loading.fresh_scheduler(base, name).config.prediction_type == "v_prediction"
    assert run(models, frames, scheduler="euler")[0].shape == frames[0].rgb.shape


def test_an_sd2_single_file_loads_offline_with_an_sd2_config_and_matches_its_folder(models):
    frames = tm.translating_plate(count=1)
    file_only = ModelLibrary(models={"sd2-file": models.models["sd2-file"], "sd": models.models["sd"]})
    # An SD 1.x folder is not a config for an SD 2.x file (its text encoder is another model).
    with pytest.raises(EngineError, match=r"sd2-file\.safetensors' \(sd2\) needs a diffusers config folder"):
        run(file_only, frames, model="sd2-file")
    from_file = run(models, frames, model="sd2-file")
    assert from_file[0].tobytes() == run(models, frames)[0].tobytes()


def test_diffusion_video_refuses_an_sd2_model(models):
    frames = tm.translating_plate(count=2)
    engine = DiffusionVideoEngine(models=models)
    shot = tm.make_shot(
        engine, frames, {"model": "sd2", "prompt": "ink", "steps": 2, "context": 2, "overlap": 0}
    )
    with pytest.raises(EngineError, match=r"needs an SD 1\.x model.*is sd2"):
        list(engine.restyle(shot, iter(frames)))
