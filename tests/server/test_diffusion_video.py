"""`diffusion-video`: AnimateDiff video-to-video from local folders over overlapping windows."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.errors import EngineError, SpecError
from stylelock.server.engines.base import StyleFrame
from stylelock.server.engines.diffusion import DiffusionVideoEngine, ModelLibrary

BASE = {"model": "sd", "prompt": "oil painting", "steps": 4, "seed": 1, "context": 4, "overlap": 2}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelLibrary:
    root = tmp_path_factory.mktemp("diffusion-video")
    tm.build_sd(root / "sd")
    tm.build_sdxl(root / "sdxl")
    tm.build_motion_adapter(root / "motion")
    tm.build_ip_adapter(root / "ip", tm.CROSS_DIM, root / "sd" / "unet")
    return ModelLibrary(
        models={"sd": root / "sd", "sdxl": root / "sdxl"},
        motion_adapters={"animatediff": root / "motion"},
        ip_adapters={"ip": root / "ip"},
    )


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_unload_after():
    yield from tm.one_torch_thread()
    DiffusionVideoEngine().close()


@pytest.fixture(scope="module")
def plate():
    return tm.translating_plate(count=9, height=48, width=64, dx=4)


def run(models, frames, styles=(), cancel_after=None, **params):
    engine = DiffusionVideoEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, **params}, styles=styles, cancel_after=cancel_after)
    return list(engine.restyle(shot, iter(frames)))


def test_restyles_every_frame_deterministically(models, plate):
    first = run(models, plate)
    assert len(first) == 9
    assert all(image.shape == (48, 64, 3) and np.isfinite(image).all() for image in first)
    assert all(image.min() >= 0.0 and image.max() <= 1.0 for image in first)
    second = run(models, plate)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in second]


def test_windows_overlap_and_cross_fade(models, plate):
    params = {"colour_lock": False}
    whole = run(models, plate, **params)
    # A frame's noise depends on (seed, frame) only, so each window restyled alone is the same window.
    window_a = run(models, plate[0:4], **params)
    window_b = run(models, plate[2:6], **params)
    np.testing.assert_allclose(whole[0], window_a[0], atol=1e-6)
    np.testing.assert_allclose(whole[2], 2 / 3 * window_a[2] + 1 / 3 * window_b[0], atol=1e-5)
    np.testing.assert_allclose(whole[3], 1 / 3 * window_a[3] + 2 / 3 * window_b[1], atol=1e-5)
    assert np.abs(window_a[2] - window_b[0]).mean() > 1e-4  # there was a seam to hide


def test_short_shots_and_the_motion_model(models, plate):
    assert len(run(models, plate[:3])) == 3  # shorter than the context: one window
    wide = run(models, plate[:4], context=4, overlap=0, colour_lock=False)
    narrow = run(models, plate[:4], context=2, overlap=0, colour_lock=False)
    assert np.abs(wide[1] - narrow[1]).mean() > 1e-4  # the motion modules see the window's frames


def test_style_image_through_the_ip_adapter(models, plate):
    style = StyleFrame(rgb=tm.texture(40, 40, seed=9), alpha=None, frame=None, digest="look")
    plain = run(models, plate[:4], colour_lock=False)
    styled = run(models, plate[:4], (style,), colour_lock=False)
    assert np.abs(plain[0] - styled[0]).mean() > 0.01


def test_cancel_stops_the_job(models, plate):
    out = run(models, plate, cancel_after=3, steps=20, strength=1.0)
    assert out == []


def test_errors(models, plate):
    with pytest.raises(SpecError, match="overlap 4 must be smaller than the context of 4"):
        run(models, plate, overlap=4)
    with pytest.raises(EngineError, match=r"needs an SD 1\.x model"):
        run(models, plate, model="sdxl")
    with pytest.raises(SpecError, match="context 40 is longer than the motion adapter's 32 frames"):
        run(models, plate, context=40)
    with pytest.raises(EngineError, match="no motion adapter is registered"):
        run(ModelLibrary(models=models.models), plate)


def test_a_video_job_after_an_image_job_with_an_ip_adapter(models, plate):
    """The motion pipeline is built from the resident image pipeline; one that had an IP-Adapter
    loaded used to hand its adapter layers to the motion UNet, and the video job then failed."""
    from stylelock.server.engines.diffusion import DiffusionImageEngine

    style = StyleFrame(rgb=tm.texture(40, 40, seed=9), alpha=None, frame=None, digest="look")
    DiffusionVideoEngine().close()
    try:
        image = DiffusionImageEngine(models=models)
        shot = tm.make_shot(
            image,
            plate[:2],
            {"model": "sd", "prompt": "ink", "steps": 2, "ip_adapter": "ip"},
            styles=(style,),
        )
        assert len(list(image.restyle(shot, iter(plate[:2])))) == 2
        after = run(models, plate[:4], colour_lock=False)
    finally:
        DiffusionVideoEngine().close()
    fresh = run(models, plate[:4], colour_lock=False)
    assert [a.tobytes() for a in after] == [b.tobytes() for b in fresh]


def test_the_prompt_is_encoded_once_per_job_not_per_window(models, plate, monkeypatch):
    from transformers import CLIPTextModel

    calls = tm.count_calls(monkeypatch, CLIPTextModel)
    counts = []
    for frames in (plate[:4], plate):  # one window, then four
        calls.clear()
        assert len(run(models, frames, colour_lock=False)) == len(frames)
        counts.append(len(calls))
    assert counts[0] == counts[1] == 2  # the prompt and the (empty) negative prompt


def test_a_single_file_motion_module_loads_offline(models, plate, tmp_path):
    """AnimateDiff's motion modules ship as single files (`mm_sd_v15_v2.ckpt`) in their original
    layout; offline, diffusers could not fetch the config it looks up for them. The config is now
    read off the file and the job's model, and the file restyles exactly as its folder does."""
    from dataclasses import replace

    import torch
    from safetensors.torch import save_file

    single = tm.build_motion_adapter_single_file(
        models.motion_adapters["animatediff"], tmp_path / "mm_tiny.safetensors"
    )
    # A shared config/ folder beside it holding another kind of model's config is passed over.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.json").write_text('{"_class_name": "ControlNetModel"}')
    expected = run(models, plate[:4], colour_lock=False)
    from_file = run(models, plate[:4], colour_lock=False, motion_adapter=str(single))
    assert [a.tobytes() for a in from_file] == [b.tobytes() for b in expected]
    save_file({"not.a.motion.module": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    other = replace(models, motion_adapters={"animatediff": tmp_path / "other.safetensors"})
    with pytest.raises(EngineError, match=r"other\.safetensors' is not an AnimateDiff motion module"):
        run(other, plate[:4])
