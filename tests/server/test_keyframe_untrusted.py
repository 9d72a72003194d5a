"""Which pixels a pass may not carry its state to along the flow (`propagate.carry_invalid`).

Known answer: a background panning by (0.3, -0.1) px whose flow has DIS-like steps inside the
layer, 0.15 px (or none) between the blocks of an 8 px grid (a squared gradient of about 0.0056
per stepping component: above the vectors' floor, 0.002 + 0.01 |F|^2, far below the estimated
flow's 0.05), and a disc moving 6 px a frame with a sharp edge. The steps are no motion boundary;
the disc's edge is. The floor made for exact vectors flags the steps too, the estimated flow's
floor does not; a pass applies the one that fits the flow it carries along.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from stylelock.server.engines.base import ModelFrame
from stylelock.server.engines.keyframe import propagate
from stylelock.server.engines.keyframe.backend import NumbaBackend
from stylelock.server.engines.keyframe.flowsrc import FlowProvider
from stylelock.server.engines.keyframe.guides import GuideWeights
from stylelock.server.engines.keyframe.propagate import Keyframe, Pass, Settings, carry_invalid
from stylelock.server.engines.keyframe.synth import Schedule

H, W = 96, 128


def _stepped_flow_with_disc() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(backward flow, disc mask, pixels away from the disc's edge)."""
    rng = np.random.default_rng(7)
    blocks = rng.choice([-0.075, 0.075], size=(H // 8, W // 8, 2)).astype(np.float32)
    flow = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    flow += np.array([-0.3, 0.1], np.float32)  # backward: where each pixel was a frame ago
    ys, xs = np.mgrid[0:H, 0:W]
    dist = np.hypot(xs - 64.0, ys - 48.0)  # from the disc's centre; its radius is 20 px
    disc = dist <= 20.0
    flow[disc] = (-6.0, 0.0)
    return flow, disc, np.abs(dist - 20.0) > 3.0


def test_estimated_flow_steps_inside_a_layer_are_not_motion_boundaries() -> None:
    flow, _, away = _stepped_flow_with_disc()
    none = np.zeros((H, W), bool)
    assert carry_invalid(flow, none, exact_flow=True)[away].mean() > 0.2  # the vectors' floor
    assert not carry_invalid(flow, none, exact_flow=False)[away].any()


def test_a_moving_objects_edge_is_untrusted_on_either_flow() -> None:
    flow, disc, _ = _stepped_flow_with_disc()
    inner_edge = disc & ~np.roll(disc, 1, axis=1)  # the disc's pixels with background to the left
    none = np.zeros((H, W), bool)
    for exact in (True, False):
        assert carry_invalid(flow, none, exact_flow=exact)[inner_edge].all()


def test_uncovered_pixels_are_untrusted() -> None:
    flow = np.zeros((H, W, 2), np.float32)
    holes = np.zeros((H, W), bool)
    holes[10:20, 30:34] = True
    for exact in (True, False):
        assert np.array_equal(carry_invalid(flow, holes, exact_flow=exact), holes)


@pytest.mark.parametrize("with_vectors", [True, False])
def test_a_pass_judges_its_flow_with_the_floor_of_its_kind(monkeypatch, with_vectors: bool) -> None:
    rng = np.random.default_rng(3)
    h, w = 40, 56
    zero = np.zeros((h, w), np.float32)
    vectors = {f"{d}.{c}": zero for d in ("forward", "backward") for c in "uv"} if with_vectors else {}
    key_rgb, next_rgb = (rng.random((h, w, 3)).astype(np.float32) for _ in range(2))
    seen: list[bool] = []

    def recording(back, holes, exact_flow):
        seen.append(exact_flow)
        return carry_invalid(back, holes, exact_flow)

    monkeypatch.setattr(propagate, "carry_invalid", recording)
    flows = FlowProvider("auto", "medium", logging.getLogger("test"))
    settings = Settings(NumbaBackend(), flows, Schedule(levels=1), GuideWeights(), "ebsynth", 0, 0.0)
    key = Keyframe(1, key_rgb.copy(), ModelFrame(1, key_rgb, aovs=vectors))
    Pass(settings, key, +1).step(ModelFrame(2, next_rgb, aovs=vectors))
    assert seen == [with_vectors]
