"""`diffusion-image` on tiny SD-1.x and SDXL models saved to disk and loaded through the real loaders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.errors import EngineError, SpecError
from stylelock.server.engines.diffusion import DiffusionImageEngine, ModelLibrary

OFF = {"shared_noise": False, "cross_frame_attention": False, "flow_fusion": False, "colour_lock": False}
BASE = {"model": "sd", "prompt": "oil painting", "steps": 4, "seed": 7}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelLibrary:
    root = tmp_path_factory.mktemp("diffusion-image")
    tm.build_sd(root / "sd")
    tm.build_sdxl(root / "sdxl")
    return ModelLibrary(models={"sd": root / "sd", "sdxl": root / "sdxl"})


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_unload_after():
    yield from tm.one_torch_thread()
    DiffusionImageEngine().close()


def run(models: ModelLibrary, frames, **params) -> list[np.ndarray]:
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, **params})
    return list(engine.restyle(shot, iter(frames)))


def test_engine_module_imports_without_torch():
    code = (
        "import sys; import stylelock.server.engines.diffusion as d; "
        "print(d.DiffusionImageEngine.describe()['name'], 'torch' in sys.modules, 'diffusers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["diffusion-image", "False", "False"]


def test_restyles_every_frame_in_order_at_plate_size(models):
    frames = tm.translating_plate(
        count=3, height=48, width=72
    )  # neither a multiple of 64: padded and cropped
    out = run(models, frames, batch=2)
    assert len(out) == 3
    for image, frame in zip(out, frames, strict=True):
        assert image.shape == (48, 72, 3) and image.dtype == np.float32
        assert np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0
        assert not np.allclose(image, frame.rgb, atol=1e-3)  # it was restyled


def test_two_runs_give_identical_bytes(models):
    frames = tm.translating_plate(count=3)
    first = run(models, frames, batch=2)
    DiffusionImageEngine().close()  # the second run loads the model again from disk
    second = run(models, frames, batch=2)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]


def test_noise_is_a_function_of_seed_and_frame(models):
    frames = tm.translating_plate(count=3)
    whole = run(models, frames, batch=1, **OFF)
    alone = run(models, frames[1:2], batch=1, **OFF)
    assert whole[1].tobytes() == alone[0].tobytes()  # a chunk re-renders frame 1002 bit for bit
    other_seed = run(models, frames[1:2], batch=1, **{**OFF, "seed": 8})
    assert not np.array_equal(other_seed[0], alone[0])


def test_batching_changes_nothing_but_rounding(models):
    frames = tm.translating_plate(count=3)
    one = run(models, frames, batch=1, **OFF)
    three = run(models, frames, batch=3, **OFF)
    for a, b in zip(one, three, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-3)


def test_shared_noise_gives_a_static_plate_the_same_picture_every_frame(models):
    still = tm.translating_plate(count=3, dx=0)
    shared = run(models, still, batch=3, **{**OFF, "shared_noise": True})
    assert np.abs(shared[0] - shared[2]).max() < 2e-3
    per_frame = run(models, still, batch=3, **OFF)
    assert np.abs(per_frame[0] - per_frame[2]).mean() > 0.01


def test_cancel_mid_job_stops_between_steps(models):
    frames = tm.translating_plate(count=4)
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, "steps": 20, "strength": 1.0, "batch": 2}, cancel_after=3)
    out = list(engine.restyle(shot, iter(frames)))
    assert out == []  # cancelled inside the first batch: nothing half-made is yielded
    assert len(shot.calls) == 3  # stopped at once, not after the 20 steps of each batch


def test_sdxl_style_model_restyles_deterministically(models):
    frames = tm.translating_plate(count=2)
    first = run(models, frames, model="sdxl", batch=2)
    second = run(models, frames, model="sdxl", batch=2)
    assert first[0].shape == (48, 64, 3)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]
    sd = run(models, frames, batch=2)
    assert not np.allclose(first[0], sd[0])


def test_model_given_as_a_path(models):
    frames = tm.translating_plate(count=1)
    by_name = run(models, frames)
    by_path = run(ModelLibrary(), frames, model=str(models.models["sd"]))
    assert by_name[0].tobytes() == by_path[0].tobytes()


def test_bad_models_are_clean_engine_errors(models, tmp_path):
    frames = tm.translating_plate(count=1)
    with pytest.raises(EngineError, match="nowhere"):
        run(models, frames, model=str(tmp_path / "nowhere"))
    with pytest.raises(EngineError, match=r"no model_index\.json"):
        run(models, frames, model=str(tmp_path))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(EngineError, match=r"broken\.safetensors"):
        run(models, frames, model=str(broken))
    truncated = tmp_path / "sd-truncated"
    _copy_tree(models.models["sd"], truncated)
    (truncated / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(EngineError, match=r"sd-truncated.*does not load"):
        run(models, frames, model=str(truncated))
    with pytest.raises(SpecError, match="'model' is required"):
        run(models, frames, model="")


def test_out_of_memory_retries_with_smaller_batches(models, monkeypatch):
    import torch

    from stylelock.server.engines.diffusion import image_job

    frames = tm.translating_plate(count=4)
    expected = run(models, frames, batch=2, **OFF)
    real = image_job.ImageJob._sample
    sizes: list[int] = []

    def flaky(self, batch):  # fault injection: the card "runs out" whenever more than 2 frames go at once
        sizes.append(len(batch))
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, batch)

    monkeypatch.setattr(image_job.ImageJob, "_sample", flaky)
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, **OFF, "batch": 4})
    out = list(engine.restyle(shot, iter(frames)))
    assert sizes == [4, 2, 2]
    assert any("out of device memory" in w for w in shot.warnings)
    for a, b in zip(out, expected, strict=True):
        assert a.tobytes() == b.tobytes()


def _copy_tree(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


def test_single_file_checkpoint_loads_offline_with_its_family_configs(models, tmp_path):
    frames = tm.translating_plate(count=1)
    checkpoint = tm.build_sd_single_file(models.models["sd"], tmp_path / "painter.safetensors")
    alone = ModelLibrary(models={"painter": checkpoint})
    with pytest.raises(EngineError, match=r"painter\.safetensors.*needs a diffusers config folder"):
        run(alone, frames, model="painter")
    # Borrowing the configs of a registered diffusers folder of the same family.
    borrowed = ModelLibrary(models={"painter": checkpoint, "sd": models.models["sd"]})
    expected = run(models, frames)
    assert run(borrowed, frames, model="painter")[0].tobytes() == expected[0].tobytes()
    # An explicit --model-config.
    explicit = ModelLibrary.from_cli(
        models=[f"painter={checkpoint}"], configs=[f"painter={models.models['sd']}"]
    )
    assert run(explicit, frames, model="painter")[0].tobytes() == expected[0].tobytes()


def test_model_library_from_command_line_flags(tmp_path):
    library = ModelLibrary.from_cli(
        models=["sd15=/models/sd15", "sdxl=/models/sdxl.safetensors"],
        controlnets=["depth=/models/cn-depth"],
        ip_adapters=["/models/ip-adapter"],
    )
    assert library.describe()["models"] == {"sd15": "/models/sd15", "sdxl": "/models/sdxl.safetensors"}
    assert library.describe()["ip_adapters"] == {"default": "/models/ip-adapter"}
    with pytest.raises(SpecError, match="must be NAME=PATH"):
        ModelLibrary.from_cli(models=["/models/sd15"])
    with pytest.raises(SpecError, match="given twice"):
        ModelLibrary.from_cli(models=["a=/x", "a=/y"])
    with pytest.raises(EngineError, match=r"'sd15' is registered as '/models/sd15', which does not exist"):
        library.resolve_model("sd15")
    with pytest.raises(EngineError, match=r"registered: sd15, sdxl"):
        library.resolve_model("sd16")


def test_strength_too_low_for_one_step_returns_the_plate(models):
    frames = tm.translating_plate(count=2)
    for strength in (0.0, 0.2):  # 4 steps x 0.2 < 1 step
        out = run(models, frames, strength=strength)
        assert [o.tobytes() for o in out] == [f.rgb.astype(np.float32).tobytes() for f in frames]


def test_reduced_precision(models):
    frames = tm.translating_plate(count=2)
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, "dtype": "bf16", "batch": 2})
    half = list(engine.restyle(shot, iter(frames)))  # every temporal layer on, in bfloat16
    assert all(np.isfinite(image).all() and image.dtype == np.float32 for image in half)
    assert np.abs(half[1] - run(models, frames, batch=2)[1]).mean() < 0.1  # near the fp32 result
    shot = tm.make_shot(engine, frames, {**BASE, "dtype": "fp16"})
    fp16_on_cpu = list(engine.restyle(shot, iter(frames)))
    assert shot.warnings == ["dtype fp16 is not supported on cpu; running in fp32"]
    assert fp16_on_cpu[0].tobytes() == run(models, frames)[0].tobytes()


def test_single_files_borrow_the_configs_of_their_own_family(models, tmp_path):
    frames = tm.translating_plate(count=1)
    sd_file = tm.build_sd_single_file(models.models["sd"], tmp_path / "sd-file.safetensors")
    xl_file = tm.build_sdxl_single_file(models.models["sdxl"], tmp_path / "xl-file.safetensors")
    library = ModelLibrary(models={**models.models, "sd-file": sd_file, "xl-file": xl_file})
    for single, folder in (("xl-file", "sdxl"), ("sd-file", "sd")):
        loaded = run(library, frames, model=single)
        assert loaded[0].tobytes() == run(models, frames, model=folder)[0].tobytes()


def test_models_stay_resident_between_jobs(models):
    import torch

    from stylelock.server.engines.diffusion import loading

    frames = tm.translating_plate(count=1)
    DiffusionImageEngine().close()
    run(models, frames)
    key = loading.CacheKey("img2img", str(models.models["sd"]), str(torch.float32), "cpu")
    resident = loading.PIPELINES.get(key, lambda: pytest.fail("the model was not kept"))
    run(models, frames, seed=9)
    assert loading.PIPELINES.get(key, lambda: pytest.fail("the model was reloaded")) is resident
    DiffusionImageEngine().close()
    assert len(loading.PIPELINES) == 0
