"""`keyframe_every N`: diffusion paints every Nth frame, the keyframe engine carries the frames between."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.metrics import temporal_stability
from stylelock.server.engines.diffusion import DiffusionImageEngine, ModelLibrary

OFF = {"shared_noise": False, "cross_frame_attention": False, "flow_fusion": False, "colour_lock": False}
BASE = {"model": "sd", "prompt": "oil painting", "steps": 4, "seed": 1, "batch": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelLibrary:
    root = tmp_path_factory.mktemp("diffusion-hybrid")
    tm.build_sd(root / "sd")
    return ModelLibrary(models={"sd": root / "sd"})


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_unload_after():
    yield from tm.one_torch_thread()
    DiffusionImageEngine().close()


@pytest.fixture(scope="module")
def plate():
    return tm.translating_plate(count=7, height=48, width=64, dx=4)


def run(models, frames, cancel_after=None, **params):
    import torch

    torch.set_num_threads(1)  # numba's parallel regions in the keyframe engine reset OpenMP's count
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, **params}, cancel_after=cancel_after)
    return list(engine.restyle(shot, iter(frames)))


def test_keyframes_are_diffused_and_the_frames_between_are_carried(models, plate):
    diffused = run(models, plate, **OFF)
    hybrid = run(models, plate, keyframe_every=4, **OFF)
    assert len(hybrid) == 7
    assert all(image.shape == (48, 64, 3) and image.dtype == np.float32 for image in hybrid)
    # Keyframes 0 and 4, and the last frame (6) so every frame has a keyframe on both sides.
    # (Tolerance: the keyframe engine's numba threads may change torch's thread count meanwhile.)
    for position in (0, 4, 6):
        np.testing.assert_allclose(hybrid[position], diffused[position], atol=1e-4)
    for position in (1, 2, 3, 5):
        assert np.abs(hybrid[position] - diffused[position]).mean() > 0.01


def test_the_hybrid_is_steadier_than_diffusing_every_frame(models, plate):
    def short_ratio(outputs):
        pairs = ((f.number, f.rgb, o, f.aovs) for f, o in zip(plate, outputs, strict=True))
        return temporal_stability(pairs)[1]["short"].ratio

    every_frame = short_ratio(run(models, plate, **OFF))
    hybrid = short_ratio(run(models, plate, keyframe_every=3))
    assert hybrid <= 0.5 * every_frame


def test_cancelling_a_hybrid_job_stops_it(models, plate):
    out = run(models, plate, keyframe_every=3, cancel_after=8)
    assert len(out) < 7


def test_the_carrier_reads_the_plates_the_job_already_holds(models, plate):
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, plate, {**BASE, **OFF, "keyframe_every": 3})
    reads: list[int] = []
    from_disk = shot.load_frame
    shot = replace(shot, load_frame=lambda number: reads.append(number) or from_disk(number))
    assert len(list(engine.restyle(shot, iter(plate)))) == 7
    assert reads == []  # keyframe plates and the frames between them come from memory, not from disk
