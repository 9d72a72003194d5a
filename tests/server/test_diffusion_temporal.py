"""Temporal layers of `diffusion-image`: what each does alone and all together, measured.

On the tiny random-weight model (bench/diffusion_layers.py records the same configurations): flow
fusion cuts `stylelock qc`'s warp error, the colour lock the global colour flicker, shared noise
the grain of a still plate (`test_diffusion_image.py`). Cross-frame attention shows no measurable
effect at random weights; what is tested of it is its wiring: later frames read the anchor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.metrics import colour_flicker, temporal_stability
from stylelock.server.engines.base import ModelFrame
from stylelock.server.engines.diffusion import DiffusionImageEngine, ModelLibrary
from stylelock.server.engines.diffusion.motion import MotionTracker

OFF = {"shared_noise": False, "cross_frame_attention": False, "flow_fusion": False, "colour_lock": False}
BASE = {"model": "sd", "prompt": "oil painting", "steps": 6, "seed": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelLibrary:
    root: Path = tmp_path_factory.mktemp("diffusion-temporal")
    tm.build_sd(root / "sd")
    return ModelLibrary(models={"sd": root / "sd"})


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_unload_after():
    yield from tm.one_torch_thread()
    DiffusionImageEngine().close()


def restyle(models, frames, **params) -> list[np.ndarray]:
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, **params})
    return list(engine.restyle(shot, iter(frames)))


def short_term_ratio(models, frames, **params) -> float:
    """`stylelock qc`'s short-term warp-error ratio (output over plate) of a restyle of `frames`."""
    out = restyle(models, frames, **params)
    _, summary = temporal_stability((f.number, f.rgb, o, f.aovs) for f, o in zip(frames, out, strict=True))
    return summary["short"].ratio


def without_vectors(frames: list[ModelFrame]) -> list[ModelFrame]:
    return [ModelFrame(number=f.number, rgb=f.rgb) for f in frames]


@pytest.mark.parametrize("vectors", [True, False], ids=["motion-vectors", "estimated-flow"])
def test_temporal_layers_at_least_halve_the_warp_error_ratio(models, vectors):
    frames = tm.translating_plate(count=6, height=64, width=96)
    if not vectors:
        frames = without_vectors(frames)
    on = short_term_ratio(models, frames, batch=2)
    off = short_term_ratio(models, frames, batch=2, **OFF)
    assert on <= 0.5 * off, f"warp-error ratio {on:.0f} with temporal layers, {off:.0f} without"


def test_fusion_follows_the_batch_so_bigger_batches_stay_stable(models):
    frames = tm.translating_plate(count=6, height=64, width=96)
    off = short_term_ratio(models, frames, batch=3, **OFF)
    assert short_term_ratio(models, frames, batch=3) <= 0.6 * off


def test_flow_fusion_alone_cuts_the_warp_error_ratio(models):
    """Measured 0.23x of all layers off (bench/results/diffusion_layers.json, plate `test`)."""
    frames = tm.translating_plate(count=6, height=64, width=96)
    off = short_term_ratio(models, frames, batch=2, **OFF)
    fused = short_term_ratio(models, frames, batch=2, **{**OFF, "flow_fusion": True})
    assert fused <= 0.5 * off, f"warp-error ratio {fused:.0f} with flow fusion alone, {off:.0f} without"


def test_colour_lock_alone_removes_the_global_colour_flicker(models):
    """Measured 0.07x of all layers off (bench/results/diffusion_layers.json, plate `test`)."""
    frames = tm.translating_plate(count=6, height=64, width=96)
    off = colour_flicker(restyle(models, frames, batch=2, **OFF))
    locked = colour_flicker(restyle(models, frames, batch=2, **{**OFF, "colour_lock": True}))
    assert locked <= 0.25 * off, f"colour flicker {locked:.3f} with the colour lock alone, {off:.3f} without"


def test_cross_frame_attention_makes_later_frames_read_the_anchor(models):
    """Its wiring, since at random weights it shows no measurable effect on any measure (see the
    bench): with the layer, a later frame depends on the anchor's plate, and the anchor comes out
    exactly as without the layer; without it (batch 1, no other layer) frames are independent."""
    frames = tm.translating_plate(count=3)
    inverted = np.ascontiguousarray(1.0 - frames[0].rgb)
    other_anchor = [ModelFrame(frames[0].number, inverted, aovs=frames[0].aovs), *frames[1:]]
    layer = {**OFF, "cross_frame_attention": True, "batch": 1}
    on, on_other = restyle(models, frames, **layer), restyle(models, other_anchor, **layer)
    off, off_other = restyle(models, frames, batch=1, **OFF), restyle(models, other_anchor, batch=1, **OFF)
    assert off[2].tobytes() == off_other[2].tobytes()
    assert np.abs(on[2] - on_other[2]).mean() > 5e-5  # measured 2e-4: a small, real dependence
    np.testing.assert_allclose(on[0], off[0], atol=1e-5)


def test_motion_tracker_chains_plate_vectors_and_falls_back_to_estimates():
    frames = tm.translating_plate(count=3, height=48, width=64, dx=4)
    tracker = MotionTracker()
    for frame in frames:
        tracker.remember(frame)
    flow, valid = tracker.flow_to(1003, 1001, (48, 64))
    np.testing.assert_allclose(flow[..., 0], -8.0)
    np.testing.assert_allclose(flow[..., 1], 0.0)
    assert not valid[:, :8].any() and valid[:, 9:].all()  # the left 8 columns came into view
    assert tracker.sources == {"vectors"}

    estimated = MotionTracker()
    for frame in without_vectors(frames):
        estimated.remember(frame)
    flow, valid = estimated.flow_to(1003, 1001, (48, 64))
    interior = valid[8:-8, 16:-8]
    assert interior.mean() > 0.8
    assert np.abs(flow[8:-8, 16:-8, 0][interior] + 8.0).mean() < 1.0
    assert estimated.sources == {"estimated:dis-medium"}
    # A stepped frame range: the vectors describe neighbours one frame apart, so the link is estimated.
    stepped = MotionTracker()
    for frame in (frames[0], frames[2]):
        stepped.remember(frame)
    stepped.flow_to(1003, 1001, (48, 64))
    assert stepped.sources == {"estimated:dis-medium"}
