"""Background uncovered by a moving object gets background paint, not the object's outline.

The scene: a still, lightly textured background and a square sliding right over it, with the
renderer's motion vectors; the keyframe paints the background pale blue, the square orange, and a
thick black outline that straddles the square's edge (half of the ink lies on the background).
"""

from __future__ import annotations

import logging

import numpy as np

from stylelock.core import flow as coreflow
from stylelock.server.engines.base import ModelFrame, ShotContext, StyleFrame
from stylelock.server.engines.keyframe import KeyframeEngine
from stylelock.server.engines.keyframe.disocclusion import (
    SEEN_LIMIT,
    PaintPrior,
    VanishedSurfaces,
    behind_the_edge,
    fill_from_layer,
    uncovered_paint,
)
from stylelock.server.engines.keyframe.guides import edges, luma

H, W = 72, 120
SIDE, SPEED, FRAMES = 24, 3, 9
X0, Y0 = 20, 24
SKY_PAINT = np.array([0.62, 0.74, 0.92], np.float32)
BOX_PAINT = np.array([0.95, 0.55, 0.15], np.float32)
INK = 3  # outline half-width in pixels


def _background(seed: int = 3) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((H, W)).astype(np.float32), (0, 0), 2.0)
    base = np.empty((H, W, 3), np.float32)
    base[...] = (0.30, 0.45, 0.75)
    base[..., 1] += 0.2 * (noise - 0.5)
    return base


def _box(t: int) -> tuple[slice, slice]:
    x = X0 + SPEED * t
    return slice(Y0, Y0 + SIDE), slice(x, x + SIDE)


def make_frames() -> tuple[list[np.ndarray], dict[int, dict[str, np.ndarray]]]:
    frames, aovs = [], {}
    for t in range(FRAMES):
        rgb = _background().copy()
        rgb[_box(t)] = (0.85, 0.2, 0.1)
        frames.append(rgb)
        moving = np.zeros((H, W), np.float32)
        moving[_box(t)] = 1.0
        # Nuke's convention: forward = displacement towards frame + 1, v points up
        aovs[1001 + t] = {
            "forward.u": SPEED * moving,
            "forward.v": 0.0 * moving,
            "backward.u": -SPEED * moving,
            "backward.v": 0.0 * moving,
        }
    return frames, aovs


def paint_over(rgb: np.ndarray, ink: int = INK) -> np.ndarray:
    paint = np.broadcast_to(SKY_PAINT, rgb.shape).copy()
    ys, xs = _box(0)
    paint[ys, xs] = BOX_PAINT
    outline = np.zeros((H, W), bool)
    outline[Y0 - ink : Y0 + SIDE + ink, X0 - ink : X0 + SIDE + ink] = True
    outline[Y0 + ink : Y0 + SIDE - ink, X0 + ink : X0 + SIDE - ink] = False
    paint[outline] = 0.02
    return paint


def restyle(frames, aovs, key, **params) -> list[np.ndarray]:
    def load(n: int) -> ModelFrame:
        return ModelFrame(n, frames[n - 1001], None, dict(aovs[n]), 1.0)

    numbers = tuple(range(1001, 1001 + len(frames)))
    shot = ShotContext(
        job_id="test",
        frames=numbers,
        styles=(StyleFrame(key, None, 1001, "key"),),
        params={"softness": 0.0, **params},
        load_frame=load,
        is_cancelled=lambda: False,
        log=logging.getLogger("test.keyframe"),
    )
    return list(KeyframeEngine().restyle(shot, (load(n) for n in numbers)))


def test_uncovered_background_takes_background_paint_not_the_outline() -> None:
    frames, aovs = make_frames()
    outs = restyle(frames, aovs, paint_over(frames[0]))
    last = outs[-1]
    # what the square has uncovered since the keyframe, away from both its outlines
    _, xs = _box(FRAMES - 1)
    uncovered = np.zeros((H, W), bool)
    uncovered[Y0 + INK + 2 : Y0 + SIDE - INK - 2, X0 + INK + 2 : xs.start - INK - 2] = True
    assert uncovered.sum() >= 150
    distance = np.abs(last[uncovered] - SKY_PAINT).mean(axis=-1)
    assert np.median(distance) < 0.08, "uncovered background should carry the background's paint"
    assert (luma(last)[uncovered] < 0.25).mean() < 0.02, "no ink trail behind the square"
    # and the square keeps its own paint and moves with the plate
    inner = last[Y0 + INK + 2 : Y0 + SIDE - INK - 2, xs.start + INK + 2 : xs.stop - INK - 2]
    assert np.abs(inner - BOX_PAINT).mean() < 0.08


def test_fill_continues_the_layer_the_hole_moves_with() -> None:
    h, w = 6, 10
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    motion = np.zeros((h, w, 2), np.float32)
    motion[:, 6:] = (-4.0, 0.0)  # an object on the right; the hole and the left side are still
    positions = np.stack([xs + 100.0, ys], -1)  # the background sits 100 px right in the keyframe
    positions[:, 6:] = (500.0, 500.0)  # the object's keyframe coordinates
    holes = np.zeros((h, w), bool)
    holes[:, 3:6] = True
    positions[holes] = (500.0, 500.0)  # what a plain warp hands the hole: the object's state
    (filled,) = fill_from_layer([positions], holes, motion)
    np.testing.assert_allclose(filled[holes][:, 0], xs[holes] + 100.0)
    np.testing.assert_allclose(filled[holes][:, 1], ys[holes])
    np.testing.assert_array_equal(filled[~holes], positions[~holes])


def test_paint_prior_is_the_fill_paint_not_the_outline_ink() -> None:
    plate = np.zeros((40, 40, 3), np.float32)
    plate[:, :20] = (0.2, 0.4, 0.8)
    plate[:, 20:] = (0.8, 0.6, 0.2)
    paint = np.where(np.arange(40)[None, :, None] < 20, SKY_PAINT, BOX_PAINT).astype(np.float32)
    paint = np.broadcast_to(paint, (40, 40, 3)).copy()
    paint[:, 16:24] = 0.0  # ink along the boundary, over both colours
    prior = PaintPrior(plate, paint, edges(luma(plate)))
    got = prior.predict(np.array([[0.2, 0.4, 0.8], [0.8, 0.6, 0.2]], np.float32))
    np.testing.assert_allclose(got[0], SKY_PAINT, atol=0.02)
    np.testing.assert_allclose(got[1], BOX_PAINT, atol=0.02)
    # a colour the keyframe never shows borrows from its neighbours instead of being black
    assert prior.predict(np.array([0.25, 0.45, 0.75], np.float32)).min() > 0.3


def test_revealed_mask_flags_the_trailing_strip_only() -> None:
    _, aovs = make_frames()
    back = coreflow.flow_from_vectors(aovs[1002], "backward")
    ahead = coreflow.flow_from_vectors(aovs[1001], "forward")
    uncovered = coreflow.revealed_mask(ahead, back)
    ys, xs = _box(1)
    assert uncovered[ys, xs.start - SPEED : xs.start].all()  # the strip the square left
    assert not uncovered[ys, xs.stop : xs.stop + 5].any()  # ahead of it: visible in both frames
    assert not uncovered[ys, xs.start + 1 : xs.stop - 1].any()


def test_no_ink_left_along_the_squares_path() -> None:
    """The outline's ink that lay on the background (half of it) does not stay behind as the square
    leaves: neither where it was painted nor as lines along the top and bottom of its path. The ink
    reaches as far from the edge as `outline_reach` expects at this size (2 px at 72 lines: about
    15 px at 540); a wider band of ink over the background stays there (docs/engines/keyframe.md).
    Known leftover, left out here and said in the docs: a few pixels at the keyframe outline's
    corners, diagonally further from the uncovered strip than the reach, keep their ink."""
    ink = coreflow.outline_reach(H, W)
    frames, aovs = make_frames()
    last = restyle(frames, aovs, paint_over(frames[0], ink))[-1]
    dark = luma(last) < 0.25
    _, xs = _box(FRAMES - 1)
    along = slice(X0 + ink, xs.start - 3 * ink)  # the path, clear of both squares' corners
    top, bottom = dark[Y0 - ink : Y0, along], dark[Y0 + SIDE : Y0 + SIDE + ink, along]
    assert top.size >= 30 and top.mean() < 0.05 and bottom.mean() < 0.05, "ink lines along the path"
    side = dark[Y0 + ink : Y0 + SIDE - ink, X0 - ink : X0]  # the keyframe outline's trailing side
    assert side.mean() < 0.05, "the keyframe's outline left where it was painted"
    inside = dark[Y0 : Y0 + SIDE, X0 : xs.start - ink - 1]
    assert inside.mean() < 0.01, "ink in the background the square uncovered"


def test_behind_the_edge_grows_the_strip_over_its_own_layer_only() -> None:
    h, w = 20, 40
    back = np.zeros((h, w, 2), np.float32)
    back[:, 20:30] = (-3.0, 0.0)  # an object moving right; the background is still
    holes = np.zeros((h, w), bool)
    holes[:, 17:20] = True  # the strip it uncovered, behind its trailing edge
    grown = behind_the_edge(holes, back, 2)
    assert grown[:, 15:20].all()  # the background just behind the strip joins (the old outline)
    assert not grown[:, :15].any() and not grown[:, 20:].any()  # not further, never the object


def test_behind_the_edge_does_not_grow_from_pixels_entering_the_frame() -> None:
    """A camera pan brings new pixels in across the frame's edge every frame: no object uncovered
    them, so nothing around them is re-painted."""
    h, w = 20, 40
    back = np.zeros((h, w, 2), np.float32)
    back[...] = (2.0, 0.0)  # the camera pans right: the last 2 columns were outside the frame before
    holes = np.zeros((h, w), bool)
    holes[:, 38:] = True
    assert (behind_the_edge(holes, back, 3) == holes).all()
    back[:, 10:20] = (5.0, 0.0)  # and an object that uncovered a strip: that one still grows
    holes[:, 7:10] = True
    grown = behind_the_edge(holes, back, 3)
    assert grown[:, 4:10].all() and (grown[:, 30:] == holes[:, 30:]).all()


def test_uncovered_paint_is_the_keyframes_own_where_it_saw_the_background() -> None:
    plate = np.zeros((10, 10, 3), np.float32)
    plate[...] = (0.3, 0.5, 0.8)
    plate[:, 6:] = (0.9, 0.4, 0.1)  # an object over the right of the keyframe
    style = np.zeros((10, 10, 3), np.float32)
    style[..., 0] = np.arange(10, dtype=np.float32)[None, :] / 10  # paint that says where it came from
    prior = PaintPrior(plate, style, edges(luma(plate)))
    sky = np.array([[0.3, 0.5, 0.8], [0.3, 0.5, 0.8]], np.float32)
    at = np.array([[2.0, 4.0], [8.0, 4.0]], np.float32)
    guess = uncovered_paint(sky, at, plate, style, prior, np.array([True, True]))
    assert guess.shape == (2, 3)
    np.testing.assert_allclose(guess[0], style[4, 2])  # seen in the keyframe: its own paint there
    # hidden by the object in the keyframe: what the artist painted over sky, not the object's paint
    np.testing.assert_allclose(guess[1], prior.predict(sky[1:])[0])
    assert not np.allclose(guess[1], style[4, 8])
    # the same colour, but the pass never saw that surface go out of view: the keyframe did not show it
    never = uncovered_paint(sky, at, plate, style, prior, np.array([False, False]))
    np.testing.assert_allclose(never, prior.predict(sky))
    assert not np.allclose(never[0], guess[0])


def test_vanished_surfaces_are_the_keyframe_points_a_frame_lost() -> None:
    surfaces = VanishedSurfaces(20, 30)
    positions = np.stack(np.meshgrid(np.arange(30.0), np.arange(20.0)), -1).astype(np.float32) + 0.3
    gone = np.zeros((20, 30), bool)
    gone[5:8, 10:12] = True  # covered by something on the next frame
    nothing = np.zeros_like(gone)
    surfaces.record(positions, gone, nothing)
    ask = np.array([[10.4, 5.2], [11.0, 7.0], [12.0, 8.0], [20.0, 5.0], [-3.0, 5.0], [45.0, 5.0]], np.float32)
    # the lost points and their neighbours (a shrinking surface leaves gaps); not elsewhere
    assert surfaces.went_out_of_view(ask).tolist() == [True, True, True, False, False, False]
    surfaces.record(positions + 100.0, np.ones((20, 30), bool), nothing)  # beyond the keyframe
    assert surfaces.points.sum() == 5 * 4
    # pixels showing background the keyframe never saw are not recorded, however they are hidden
    unseen = np.zeros_like(gone)
    unseen[12:15, 20:25] = True
    surfaces.record(positions, unseen, unseen)
    assert surfaces.points.sum() == 5 * 4


def _alike_textures() -> tuple[np.ndarray, np.ndarray]:
    """A lightly textured ground and a card whose colours pass for the ground's (brown over brown)."""
    import cv2

    def texture(base: tuple[float, float, float], seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        noise = cv2.GaussianBlur(rng.random((H, W)).astype(np.float32), (0, 0), 1.0)
        return np.float32(base) + 0.25 * (noise[..., None] - 0.5)

    return texture((0.50, 0.36, 0.24), 3), texture((0.56, 0.40, 0.22), 5)


def test_uncovered_background_of_the_objects_colour_takes_background_paint(monkeypatch) -> None:
    """The square's plate colours resemble the background's (within `SEEN_LIMIT`: brown over brown),
    but its paint does not: the background it uncovers was never in view since the keyframe, so it
    must not take the square's paint from the keyframe because the colours agree. With colour alone
    (the control run) most of it does."""
    ground, card = _alike_textures()
    frames, aovs = make_frames()
    for t in range(FRAMES):
        frames[t] = ground.copy()
        ys, xs = _box(t)
        frames[t][ys, xs] = card[ys, xs.start - SPEED * t : xs.stop - SPEED * t]
    alike = np.abs(frames[0][_box(0)] - ground[_box(0)]).mean(-1) < SEEN_LIMIT
    assert alike.mean() > 0.75, "most of the square's plate colours pass for the background's"
    paint = np.broadcast_to(SKY_PAINT, frames[0].shape).copy()
    paint[_box(0)] = BOX_PAINT
    _, xs = _box(FRAMES - 1)

    def taken_from_the_square() -> float:
        uncovered = restyle(frames, aovs, paint)[-1][Y0 + 2 : Y0 + SIDE - 2, X0 + 2 : xs.start - 2]
        assert uncovered.shape[0] * uncovered.shape[1] >= 300
        closer = np.abs(uncovered - BOX_PAINT).mean(-1) < np.abs(uncovered - SKY_PAINT).mean(-1)
        return float(closer.mean())

    # 5 % when the band re-painted behind the strip still went by colour
    assert taken_from_the_square() < 0.02
    monkeypatch.setattr(
        VanishedSurfaces, "went_out_of_view", lambda self, positions: np.ones(len(positions), bool)
    )
    assert taken_from_the_square() > 0.5, "colour alone hands the square's paint to the background"


def test_background_hidden_again_and_uncovered_once_more_takes_background_paint(monkeypatch) -> None:
    """The card slides right, back to where it was painted, and right again. The ground it uncovers
    the first time was never seen by the keyframe; the card covering it again must not count as
    that ground going out of view (its keyframe positions lie under the card: they would mark the
    card's own keyframe area as seen ground), so the second uncovering takes background paint too.
    The control run marks every hidden pixel, uncovered-unseen ground included: the card's paint
    comes back."""
    from stylelock.server.engines.keyframe import propagate

    ground, card = _alike_textures()
    steps = 4
    xs_at = [X0 + SPEED * t for t in range(steps + 1)]
    xs_at += [xs_at[-1] - SPEED * t for t in range(1, steps + 1)]
    xs_at += [X0 + SPEED * t for t in range(1, steps + 1)]
    frames, aovs = [], {}
    for t, x in enumerate(xs_at):
        rgb = ground.copy()
        rgb[Y0 : Y0 + SIDE, x : x + SIDE] = card[Y0 : Y0 + SIDE, X0 : X0 + SIDE]
        frames.append(rgb)
        moving = np.zeros((H, W), np.float32)
        moving[Y0 : Y0 + SIDE, x : x + SIDE] = 1.0
        ahead = xs_at[t + 1] - x if t + 1 < len(xs_at) else 0
        behind = xs_at[t - 1] - x if t > 0 else 0
        zero = np.zeros((H, W), np.float32)
        aovs[1001 + t] = {
            "forward.u": ahead * moving,
            "forward.v": zero,
            "backward.u": behind * moving,
            "backward.v": zero,
        }
    paint = np.broadcast_to(SKY_PAINT, frames[0].shape).copy()
    paint[Y0 : Y0 + SIDE, X0 : X0 + SIDE] = BOX_PAINT

    def taken_from_the_card() -> float:
        uncovered = restyle(frames, aovs, paint)[-1][Y0 + 2 : Y0 + SIDE - 2, X0 + 2 : xs_at[-1] - 2]
        assert uncovered.shape[0] * uncovered.shape[1] >= 150
        closer = np.abs(uncovered - BOX_PAINT).mean(-1) < np.abs(uncovered - SKY_PAINT).mean(-1)
        return float(closer.mean())

    assert taken_from_the_card() < 0.02
    record = propagate.VanishedSurfaces.record

    def with_unseen_ground(self, positions, gone, unseen):
        return record(self, positions, gone, np.zeros_like(unseen))

    monkeypatch.setattr(propagate.VanishedSurfaces, "record", with_unseen_ground)
    assert taken_from_the_card() > 0.5, "the card's keyframe area passed for ground that went out of view"


def test_flow_provider_says_which_pairs_are_exact_vectors() -> None:
    from stylelock.server.engines.keyframe.flowsrc import FlowProvider

    frames, aovs = make_frames()
    log = logging.getLogger("test.keyframe")
    a = ModelFrame(1001, frames[0], None, dict(aovs[1001]), 1.0)
    b = ModelFrame(1002, frames[1], None, dict(aovs[1002]), 1.0)
    assert FlowProvider("auto", "fast", log).exact(a, b)
    assert FlowProvider("auto", "fast", log).exact(b, a)
    assert not FlowProvider("estimated", "fast", log).exact(a, b)
    bare = ModelFrame(1002, frames[1], None, {}, 1.0)
    assert not FlowProvider("auto", "fast", log).exact(a, bare)


def test_the_pass_records_the_surfaces_that_go_out_of_view(monkeypatch) -> None:
    """The pass records the keyframe points of what the square covers as it moves (ahead of its
    leading edge) and nothing where the square itself stays in view."""
    from stylelock.server.engines.keyframe import propagate

    recorded: list[np.ndarray] = []
    step = propagate.Pass.step

    def recording(self, frame):
        result = step(self, frame)
        recorded.append(self.vanished.points.copy())
        return result

    monkeypatch.setattr(propagate.Pass, "step", recording)
    frames, aovs = make_frames()
    restyle(frames, aovs, paint_over(frames[0]), flow="vectors")
    points = recorded[-1]
    covered = points[Y0 + 2 : Y0 + SIDE - 2, X0 + SIDE + 2 : X0 + SIDE + SPEED * (FRAMES - 1) - 2]
    assert covered.all(), "the background ahead of the square went out of view"
    assert not points[Y0 + 2 : Y0 + SIDE - 2, X0 + 2 : X0 + SIDE - 2].any(), "the square stayed in view"
    assert not points[:, : X0 - 2].any()
