"""Which pixels' motion a pass may not carry its state along (`propagate.untrusted_motion`).

Known answer: a background panning by (0.3, -0.1) px whose flow carries DIS-like steps of
up to 0.15 px between the blocks of an 8 px grid (what an estimated flow looks like inside one layer), and a disc moving
6 px a frame with a sharp edge. The steps are no motion boundary; the disc's edge is. The floor
made for exact vectors flags the steps too, the estimated flow's floor does not.
"""

from __future__ import annotations

import numpy as np

from stylelock.server.engines.keyframe.propagate import untrusted_motion

H, W = 96, 128


def _stepped_flow_with_disc() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(backward flow, disc mask, pixels away from the disc's edge)."""
    rng = np.random.default_rng(7)
    blocks = rng.choice([-0.075, 0.075], size=(H // 8, W // 8, 2)).astype(np.float32)
    flow = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    flow += np.array([-0.3, 0.1], np.float32)  # backward: where each pixel was a frame ago
    ys, xs = np.mgrid[0:H, 0:W]
    disc = (xs - 64) ** 2 + (ys - 48) ** 2 <= 20**2
    flow[disc] = (-6.0, 0.0)
    dist = np.sqrt((xs - 64.0) ** 2 + (ys - 48.0) ** 2)
    return flow, disc, np.abs(dist - 20.0) > 3.0


def test_estimated_flow_steps_inside_a_layer_are_not_motion_boundaries() -> None:
    flow, _, away = _stepped_flow_with_disc()
    none = np.zeros((H, W), bool)
    assert untrusted_motion(flow, none, exact_flow=True)[away].mean() > 0.2  # the vectors' floor
    assert not untrusted_motion(flow, none, exact_flow=False)[away].any()


def test_a_moving_objects_edge_is_untrusted_on_either_flow() -> None:
    flow, disc, _ = _stepped_flow_with_disc()
    inner_edge = disc & ~np.roll(disc, 1, axis=1)  # the disc's pixels with background to the left
    none = np.zeros((H, W), bool)
    for exact in (True, False):
        assert untrusted_motion(flow, none, exact_flow=exact)[inner_edge].all()


def test_uncovered_pixels_are_untrusted() -> None:
    flow = np.zeros((H, W, 2), np.float32)
    holes = np.zeros((H, W), bool)
    holes[10:20, 30:34] = True
    for exact in (True, False):
        assert np.array_equal(untrusted_motion(flow, holes, exact_flow=exact), holes)
