"""Style lock: IP-Adapter from a local folder (per-block scales, style-only mode) and the colour lock."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.errors import EngineError
from stylelock.server.engines.base import StyleFrame
from stylelock.server.engines.diffusion import DiffusionImageEngine, ModelLibrary
from stylelock.server.engines.diffusion.colour import ColourLock, lab_stats

OFF = {"shared_noise": False, "cross_frame_attention": False, "flow_fusion": False, "colour_lock": False}
BASE = {"model": "sd", "prompt": "watercolour", "steps": 4, "seed": 5, "ip_adapter": "sd", **OFF}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelLibrary:
    root = tmp_path_factory.mktemp("diffusion-style")
    tm.build_sd(root / "sd")
    tm.build_sdxl(root / "sdxl")
    tm.build_ip_adapter(root / "ip-sd", tm.CROSS_DIM, root / "sd" / "unet")
    tm.build_ip_adapter(root / "ip-sdxl", tm.SDXL_CROSS_DIM, root / "sdxl" / "unet")
    return ModelLibrary(
        models={"sd": root / "sd", "sdxl": root / "sdxl"},
        ip_adapters={"sd": root / "ip-sd", "sdxl": root / "ip-sdxl"},
    )


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_unload_after():
    yield from tm.one_torch_thread()
    DiffusionImageEngine().close()


@pytest.fixture(scope="module")
def style() -> StyleFrame:
    warm = tm.texture(40, 56, seed=9) * np.array([1.0, 0.55, 0.2], np.float32)  # a warm, orange look
    return StyleFrame(rgb=warm.astype(np.float32), alpha=None, frame=None, digest="look")


def run(models, frames, styles=(), **params):
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, **params}, styles=styles)
    out = list(engine.restyle(shot, iter(frames)))
    return out, shot.warnings


def test_ip_adapter_steers_the_look_and_unloads_for_the_next_job(models, style):
    frames = tm.translating_plate(count=2)
    plain, _ = run(models, frames)
    styled, _ = run(models, frames, (style,))
    assert np.abs(plain[0] - styled[0]).mean() > 0.01
    muted, _ = run(models, frames, (style,), ip_adapter_scale=0.0)
    assert muted[0].tobytes() == plain[0].tobytes()
    # The resident pipeline had the adapter loaded; a job without style gets it unloaded.
    again, _ = run(models, frames)
    assert again[0].tobytes() == plain[0].tobytes()


@pytest.mark.parametrize("model", ["sd", "sdxl"])
def test_style_only_feeds_the_style_block_alone(models, style, model):
    from diffusers import UNet2DConditionModel

    from stylelock.server.engines.diffusion.style import ip_adapter_scales

    frames = tm.translating_plate(count=1)
    everywhere, _ = run(models, frames, (style,), model=model, ip_adapter=model, style_only=False)
    style_only, _ = run(models, frames, (style,), model=model, ip_adapter=model, style_only=True)
    assert np.abs(everywhere[0] - style_only[0]).mean() > 1e-3

    unet = UNet2DConditionModel.from_pretrained(models.models[model] / "unet", local_files_only=True)
    scales = ip_adapter_scales(unet, {"ip_adapter_scale": 0.8, "style_only": True})
    if model == "sdxl":  # InstantStyle's SDXL block: the middle layer of the first up block
        assert scales == {"up": {"block_0": [0.0, 0.8, 0.0]}}
    else:  # SD 1.x: the first up block with attention (up_blocks.1, as in SD 1.5)
        assert scales == {"up": {"block_1": 0.8}}


def test_without_an_ip_adapter_the_style_sets_the_colour_lock_only(models, style):
    frames = tm.translating_plate(count=1)
    bare = ModelLibrary(models=models.models)
    out, warnings = run(bare, frames, (style,), ip_adapter="", colour_lock=True)
    assert any("no IP-Adapter is registered" in w for w in warnings)
    assert out[0].shape == (48, 64, 3)


def test_a_broken_ip_adapter_is_a_clean_error(models, style, tmp_path):
    frames = tm.translating_plate(count=1)
    (tmp_path / "adapter.safetensors").write_bytes(b"junk")
    with pytest.raises(EngineError, match=r"has no image_encoder/ folder"):
        run(models, frames, (style,), ip_adapter=str(tmp_path))
    (tmp_path / "image_encoder").mkdir()
    (tmp_path / "image_encoder" / "config.json").write_text("{}")
    with pytest.raises(EngineError, match=r"IP-Adapter '.*' does not load"):
        run(models, frames, (style,), ip_adapter=str(tmp_path))
    ok, _ = run(models, frames, (style,))  # the resident pipeline is still usable
    assert np.isfinite(ok[0]).all()


def test_colour_lock_pulls_the_palette_to_the_reference(models, style):
    frames = tm.translating_plate(count=3)
    free, _ = run(models, frames, (style,), ip_adapter_scale=0.0)
    locked, _ = run(models, frames, (style,), ip_adapter_scale=0.0, colour_lock=True)
    ref_mean, ref_std = lab_stats(style.rgb)
    for a, b in zip(free, locked, strict=True):
        free_gap = np.abs(lab_stats(a)[0] - ref_mean).sum()
        locked_gap = np.abs(lab_stats(b)[0] - ref_mean).sum()
        assert locked_gap < 0.25 * free_gap
        np.testing.assert_allclose(lab_stats(b)[1], ref_std, rtol=0.35)


def test_colour_lock_without_a_reference_holds_the_first_frame():
    lock = ColourLock(None)
    first = tm.texture(16, 16, seed=1)
    assert lock(first) is first
    darker = np.clip(first * 0.6, 0.0, 1.0)
    held = lock(darker)
    np.testing.assert_allclose(lab_stats(held)[0], lab_stats(first)[0], atol=1.5)


@pytest.mark.parametrize("model", ["sd", "sdxl"])
def test_the_prompt_and_the_style_image_are_encoded_once_per_job(models, style, model, monkeypatch):
    """The text encoder(s) and the IP-Adapter's image encoder run once per job, not once per batch:
    a job of four batches encodes exactly as often as a job of one frame."""
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPVisionModelWithProjection

    text_calls = [
        tm.count_calls(monkeypatch, CLIPTextModel),
        tm.count_calls(monkeypatch, CLIPTextModelWithProjection),
    ]
    image_calls = tm.count_calls(monkeypatch, CLIPVisionModelWithProjection)
    counts = []
    for count in (1, 4):
        for calls in (*text_calls, image_calls):
            calls.clear()
        frames = tm.translating_plate(count=count)
        out, _ = run(models, frames, (style,), model=model, ip_adapter=model, batch=1, negative_prompt="blur")
        assert len(out) == count
        counts.append((sum(map(len, text_calls)), len(image_calls)))
    assert counts[0] == counts[1]
    assert counts[0][0] >= 2 and counts[0][1] >= 1  # prompt and negative prompt; the style image


def test_an_ip_adapter_named_by_its_weights_file(models, style, tmp_path):
    """IP-Adapter releases put several weights files beside one image_encoder/: a folder with more
    than one is refused by name, and naming the file picks it."""
    import shutil

    frames = tm.translating_plate(count=1)
    expected, _ = run(models, frames, (style,))
    folder = shutil.copytree(models.ip_adapters["sd"], tmp_path / "ip-release")
    shutil.copy(folder / "ip-adapter.safetensors", folder / "ip-adapter-plus.safetensors")
    with pytest.raises(EngineError, match=r"exactly one weights file.*ip-adapter-plus.safetensors"):
        run(models, frames, (style,), ip_adapter=str(folder))
    by_file, _ = run(models, frames, (style,), ip_adapter=str(folder / "ip-adapter.safetensors"))
    assert by_file[0].tobytes() == expected[0].tobytes()


def test_guidance_follows_each_pipelines_own_rule(tmp_path, style):
    """An LCM-distilled model (a UNet with a guidance embedding) skips classifier-free guidance in
    plain img2img but not in the ControlNet pipeline: the prompt is encoded by the rule of the
    pipeline that samples, so a ControlNet job on such a model keeps its negative prompt and its
    IP-Adapter (encoded for the wrong rule, the IP-Adapter embeddings did not split and the job failed)."""
    import torch

    from stylelock.server.engines.diffusion import loading
    from stylelock.server.engines.diffusion.prompts import uses_guidance

    tm.build_sd(tmp_path / "lcm", time_cond_proj_dim=8)
    tm.build_sd(tmp_path / "sd")  # ControlNets for SD 1.x serve its LCM-distilled models too
    tm.build_controlnet(tmp_path / "cn", tmp_path / "sd")
    tm.build_ip_adapter(tmp_path / "ip", tm.CROSS_DIM, tmp_path / "lcm" / "unet")
    library = ModelLibrary(
        models={"lcm": tmp_path / "lcm"},
        controlnets={"edges": tmp_path / "cn"},
        ip_adapters={"ip": tmp_path / "ip"},
    )
    base = loading.load_base(library.resolve_model("lcm"), torch.float32, "cpu", library)
    controlled = loading.with_controlnets(
        base, [loading.load_controlnet(tmp_path / "cn", base.dtype, "cpu", base.unet.config)]
    )
    assert not uses_guidance(base, 1.5) and uses_guidance(controlled, 1.5)
    frames = tm.translating_plate(count=2)
    engine = DiffusionImageEngine(models=library)
    params = {**BASE, "model": "lcm", "ip_adapter": "ip", "guidance": 1.5, "batch": 2}
    outputs = []
    for negative in ("", "blurry"):
        shot = tm.make_shot(
            engine, frames, {**params, "negative_prompt": negative}, styles=(style,), guides={"edges": ""}
        )
        outputs.append(list(engine.restyle(shot, iter(frames))))
    assert np.abs(outputs[0][1] - outputs[1][1]).mean() > 1e-4  # the negative prompt acts
    DiffusionImageEngine().close()
