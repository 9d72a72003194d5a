"""Synthesized paint stays attached to its surface (`atlas.SurfaceAtlas`).

The known answer: a patchwork correspondence field (two copied patches meeting at a seam) on a
surface that drifts by 0.3 px a frame. After ten frames the seam must sit 3 px further on, with each
pixel's source where that surface point's copy put it. Carried on the pixel grid alone the seam
stays put (the failure the atlas exists for); read back from the atlas it moves with the surface.
"""

from __future__ import annotations

import numpy as np

from stylelock.core import flow as coreflow
from stylelock.server.engines.keyframe.atlas import SurfaceAtlas
from stylelock.server.engines.keyframe.guides import coords

H, W = 24, 40
SEAM = 19.5  # between two pixel centres, where a copied patch ends
DRIFT = 0.3  # the surface moves right by this much a frame
FRAMES = 10


def _copy_of(u: np.ndarray) -> np.ndarray:
    """Where the surface point ``u`` (keyframe x, y) takes its paint: left of the seam from a
    patch 60 px away, right of it from one 40 px away in the other direction."""
    shift = np.where(u[..., :1] < SEAM, np.float32([60.0, 30.0]), np.float32([-40.0, 5.0]))
    return (u + shift).astype(np.float32)


def _run(use_atlas: bool) -> tuple[np.ndarray, np.ndarray]:
    back = np.zeros((H, W, 2), np.float32)
    back[..., 0] = -DRIFT  # each pixel came from DRIFT px to its left
    positions = coords(H, W)
    field = _copy_of(positions)
    atlas = SurfaceAtlas(H, W)
    atlas.write(positions, field)
    none = np.zeros((H, W), bool)
    for _ in range(FRAMES):
        nearest = coreflow.nearest_source(back)
        positions = coreflow.carry_positions(positions, back, nearest)
        field = coreflow.carry_positions(field, back, nearest)
        if use_atlas:
            field = atlas.read(positions, field, nearest, none)
            atlas.write(positions, field)
    return positions, field


def test_seams_of_copied_paint_move_with_the_surface() -> None:
    positions, field = _run(use_atlas=True)
    truth = _copy_of(positions)
    inner = (slice(None), slice(10, W - 2))  # the left edge takes in content from outside the frame
    moved = coords(H, W)[..., 0] - DRIFT * FRAMES
    np.testing.assert_allclose(positions[..., 0][inner], moved[inner], atol=1e-4)
    np.testing.assert_allclose(field[inner], truth[inner], atol=1e-3)


def test_without_the_atlas_the_seam_stays_on_the_grid() -> None:
    positions, field = _run(use_atlas=False)
    truth = _copy_of(positions)
    wrong = np.abs(field - truth).max(axis=-1)[:, 10 : W - 2] > 1.0
    assert wrong.any(axis=0).sum() >= 2  # whole columns beside the seam copy the wrong patch


def test_paint_from_its_own_surface_point_stays_out_of_the_atlas() -> None:
    atlas = SurfaceAtlas(H, W)
    positions = coords(H, W) + np.float32([0.4, -0.2])
    atlas.write(positions, positions.copy())
    assert not atlas.known.any() and not atlas.used.any()
    nearest = coreflow.nearest_source(np.zeros((H, W, 2), np.float32))
    carried = positions + np.float32([0.05, 0.0])
    np.testing.assert_array_equal(atlas.read(positions, carried, nearest, np.zeros((H, W), bool)), carried)


def test_pixels_sharing_a_cell_resolve_in_raster_order() -> None:
    atlas = SurfaceAtlas(H, W)
    positions = np.full((2, 3, 2), 7.0, np.float32)  # six pixels on one surface point (a push-in)
    field = np.arange(12, dtype=np.float32).reshape(2, 3, 2) + 50.0
    atlas.write(positions, field)
    assert atlas.known.sum() == 1
    np.testing.assert_array_equal(atlas.source[7 + atlas.top, 7 + atlas.left], field[-1, -1])


def test_content_entering_from_beyond_the_keyframe_has_cells_within_the_margin() -> None:
    """A camera move brings in surface the keyframe never framed: its keyframe coordinates lie
    beyond the keyframe's edges, and the atlas keeps its copied paint there too, out to `margin`
    of the keyframe's size; further out it is carried on the grid."""
    atlas = SurfaceAtlas(H, W, margin=0.25)  # 10 cells beyond the left and right edges, 6 above and below
    positions = coords(H, W) - np.float32([8.3, 0.0])  # the frame's left eight columns lie beyond it
    positions[:, -1] = (-20.0, 3.0)  # a column 20 px beyond: outside the margin
    field = _copy_of(coords(H, W))
    atlas.write(positions, field)
    assert atlas.used[:, :8].all() and not atlas.used[:, -1].any()
    nearest = coreflow.nearest_source(np.zeros((H, W, 2), np.float32))
    later = positions + np.float32([0.3, 0.0])  # a frame later the surface has drifted by 0.3 px
    carried = np.zeros_like(field)
    out = atlas.read(later, carried, nearest, np.zeros((H, W), bool))
    # beyond the keyframe as inside it: the copy follows the surface point (field + its drift)
    np.testing.assert_allclose(out[:, : W - 1], field[:, : W - 1] + np.float32([0.3, 0.0]), atol=1e-4)
    np.testing.assert_array_equal(out[:, -1], carried[:, -1])
    none = SurfaceAtlas(H, W, margin=0.0)
    none.write(positions, field)
    assert not none.used[:, :8].any()
    # on an estimated flow the margin is not used (`propagate.Pass.step`): only the keyframe's cells
    within = SurfaceAtlas(H, W, margin=0.25)
    within.write(positions, field, beyond=False)
    assert not within.used[:, :8].any() and within.used[:, 9:-1].all()
    out = atlas.read(later, carried, nearest, np.zeros((H, W), bool), beyond=False)
    np.testing.assert_array_equal(out[:, :8], carried[:, :8])


def test_uncovered_pixels_start_afresh() -> None:
    """A hole (background just uncovered) is synthesized anew, never read from the atlas."""
    atlas = SurfaceAtlas(H, W)
    positions = coords(H, W)
    atlas.write(positions, _copy_of(positions))
    nearest = coreflow.nearest_source(np.zeros((H, W, 2), np.float32))
    holes = np.zeros((H, W), bool)
    holes[:, :5] = True
    carried = positions.copy()
    out = atlas.read(positions, carried, nearest, holes)
    np.testing.assert_array_equal(out[holes], carried[holes])
    np.testing.assert_allclose(out[~holes], _copy_of(positions)[~holes])


# --- the whole engine: background a square uncovers, on a camera that drifts by sub-pixels ---

PH, PW = 72, 120
SIDE, SPEED, STEPS = 24, 3, 10
PAN = 0.3125  # the background drifts right by this much a frame


def _canvas() -> np.ndarray:
    import cv2

    rng = np.random.default_rng(5)
    noise = cv2.GaussianBlur(rng.random((PH + 8, PW + 8)).astype(np.float32), (0, 0), 1.5)
    noise = (noise - noise.mean()) / noise.std()
    rgb = np.empty((PH + 8, PW + 8, 3), np.float32)
    rgb[...] = (0.35, 0.5, 0.3)
    rgb += 0.12 * noise[..., None] * np.float32([1.0, 0.6, 0.3])
    return np.clip(rgb, 0.0, 1.0)


def _shifted(image: np.ndarray, dx: float) -> np.ndarray:
    import cv2

    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)  # fmt: skip


def _plate() -> tuple[list[np.ndarray], dict[int, dict[str, np.ndarray]]]:
    canvas = _canvas()
    frames, aovs = [], {}
    for t in range(STEPS):
        rgb = np.ascontiguousarray(_shifted(canvas, PAN * t)[4 : 4 + PH, 4 : 4 + PW])
        box = (slice(24, 24 + SIDE), slice(12 + SPEED * t, 12 + SPEED * t + SIDE))
        rgb[box] = (0.85, 0.2, 0.1)
        frames.append(rgb)
        u = np.full((PH, PW), PAN, np.float32)
        u[box] = SPEED
        aovs[1001 + t] = {"forward.u": u, "forward.v": 0 * u, "backward.u": -u, "backward.v": 0 * u}
    return frames, aovs


def _paint(rgb: np.ndarray) -> np.ndarray:
    """Posterised and hatched: texture a copied patch carries, with seams where copies meet."""
    q = np.floor(rgb * 6.0) / 6.0
    ys, xs = np.mgrid[0:PH, 0:PW]
    hatch = 0.06 * np.sign(np.sin((xs + 2 * ys) * 0.7))[..., None]
    return np.clip(q * np.float32([0.9, 1.1, 1.3]) + hatch, 0.0, 1.0).astype(np.float32)


def _restyle(frames, aovs) -> list[np.ndarray]:
    import logging

    from stylelock.server.engines.base import ModelFrame, ShotContext, StyleFrame
    from stylelock.server.engines.keyframe import KeyframeEngine

    def load(n: int) -> ModelFrame:
        return ModelFrame(n, frames[n - 1001], None, dict(aovs[n]), 1.0)

    numbers = tuple(range(1001, 1001 + STEPS))
    shot = ShotContext(
        job_id="atlas",
        frames=numbers,
        styles=(StyleFrame(_paint(frames[0]), None, 1001, "key"),),
        params={},
        load_frame=load,
        is_cancelled=lambda: False,
        log=logging.getLogger("test.keyframe"),
    )
    return list(KeyframeEngine().restyle(shot, (load(n) for n in numbers)))


def _settling(outs: list[np.ndarray]) -> float:
    """Low-passed change, along the known motion, of the background the square uncovered by
    frame 4 (never seen by the keyframe), from frame 5 to the last."""
    import cv2

    first, last = 4, STEPS - 1
    region = (slice(24 + 4, 24 + SIDE - 4), slice(12 + 4, 12 + SPEED * first - 4))
    moved = _shifted(outs[first], PAN * (last - first))
    low = [cv2.GaussianBlur(x, (0, 0), 1.0)[region] for x in (moved, outs[last])]
    return float(np.abs(low[0] - low[1]).mean())


def test_unseen_background_keeps_its_synthesized_paint(monkeypatch) -> None:
    frames, aovs = _plate()
    with_atlas = _settling(_restyle(frames, aovs))
    monkeypatch.setattr(
        SurfaceAtlas, "read", lambda self, positions, carried, nearest, holes, beyond=True: carried
    )
    without = _settling(_restyle(frames, aovs))
    assert with_atlas < 0.8 * without, (with_atlas, without)


def test_copied_paint_on_unseen_background_settles_and_the_object_does_not(monkeypatch) -> None:
    """The pass's track ages (`synth.track_factor`): the background the square uncovered, painted
    from elsewhere, has held its tracks for frames; the square's own paint (from its own surface
    point) and the band around its moving edges never age."""
    from stylelock.server.engines.keyframe import propagate

    ages: dict[int, np.ndarray] = {}
    step = propagate.Pass.step

    def recording(self, frame):
        result = step(self, frame)
        ages[frame.number] = self.age.copy()
        return result

    monkeypatch.setattr(propagate.Pass, "step", recording)
    frames, aovs = _plate()
    _restyle(frames, aovs)
    last = STEPS - 1
    age = ages[1001 + last]
    uncovered = age[24 + 4 : 24 + SIDE - 4, 12 + 4 : 12 + SPEED * 4 - 4]  # left by frame 4, never seen
    assert (uncovered >= 2).mean() > 0.8, np.bincount(uncovered.ravel())
    square = age[24 : 24 + SIDE, 12 + SPEED * last : 12 + SPEED * last + SIDE]
    assert not square.any()
