"""Optical flow: DIS estimation, backward warping, occlusion and motion-vector AOVs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stylelock.core.errors import SpecError
from stylelock.core.flow import (
    LUMA,
    FlowSource,
    estimate_flow,
    fill_from_layer,
    flow_from_vectors,
    flow_input,
    inside_mask,
    occlusion_mask,
    to_gray8,
    vectors_source,
    warp,
)


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (blurred noise) with structure at several scales."""
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3)).astype(np.float32)
    fine = cv2.GaussianBlur(noise, (0, 0), 1.5)
    coarse = cv2.GaussianBlur(noise, (0, 0), 5.0)
    tex = 0.5 * (fine - fine.mean()) / fine.std() * 0.15 + (coarse - coarse.mean()) / coarse.std() * 0.15
    return np.clip(tex + 0.5, 0.0, 1.0).astype(np.float32)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``out(x, y) = image(x - dx, y - dy)``: content moves by (+dx, +dy)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = image.shape[:2]
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


@pytest.mark.parametrize(("dx", "dy"), [(3.0, -2.0), (1.5, 2.5), (-4.0, 0.0)])
def test_estimate_flow_recovers_known_translation(dx: float, dy: float) -> None:
    src = _texture(96, 128, seed=1)
    dst = _shift(src, dx, dy)
    flow = estimate_flow(src, dst)
    assert flow.shape == (96, 128, 2) and flow.dtype == np.float32
    interior = flow[16:-16, 16:-16]
    # src(x) shows the point that sits at x + (dx, dy) in dst.
    assert abs(float(np.median(interior[..., 0])) - dx) < 0.25
    assert abs(float(np.median(interior[..., 1])) - dy) < 0.25
    assert float(np.mean(np.abs(interior[..., 0] - dx))) < 0.25
    assert float(np.mean(np.abs(interior[..., 1] - dy))) < 0.25


def test_estimate_flow_tracks_faint_texture() -> None:
    # A sky-like plate: texture with a spread of about two 8-bit code values. Plain 8-bit luma
    # gives DIS too little to match (mean end-point errors 0.10-0.13 px on these moves); the
    # contrast-normalised input tracks it as well as a contrasty texture (about 0.055 px).
    bright = _texture(144, 192, seed=3)
    faint = 0.45 + 0.04 * (bright - 0.5)
    errors = []
    for dx, dy in [(1.3, 0.4), (-2.7, 1.6), (4.2, -3.1)]:
        flow = estimate_flow(faint, _shift(faint, dx, dy))
        errors.append(float(np.linalg.norm(flow[16:-16, 16:-16] - (dx, dy), axis=-1).mean()))
    assert max(errors) < 0.08, errors


def test_flow_input_moves_with_the_content() -> None:
    # DIS assumes a point keeps its brightness as it moves: the normalisation must be a filter of
    # the content (shifting the image shifts its flow input), not a screen-fixed equalisation.
    src = 0.3 + 0.2 * _texture(96, 128, seed=4)
    moved = np.roll(src, (5, 7), axis=(0, 1))
    a = flow_input(src, "src").astype(int)
    b = flow_input(moved, "moved").astype(int)
    inner = (slice(40, -40), slice(40, -40))
    assert np.abs(np.roll(a, (5, 7), axis=(0, 1))[inner] - b[inner]).max() <= 1
    assert a.std() > 20 > 255 * src.std()  # faint detail spread over the 8-bit range
    flat = flow_input(np.full((32, 32), 0.6, np.float32), "flat")
    assert np.all(flat == 128)  # no detail: nothing amplified


def test_estimate_flow_is_deterministic_and_accepts_gray() -> None:
    src = _texture(48, 64, seed=2)
    dst = _shift(src, 2.0, 1.0)
    a = estimate_flow(src, dst, preset="fast")
    b = estimate_flow(src, dst, preset="fast")
    np.testing.assert_array_equal(a, b)
    gray = estimate_flow(src.mean(axis=-1), dst.mean(axis=-1), preset="ultrafast")
    assert gray.shape == (48, 64, 2)


def test_estimate_flow_rejects_bad_input() -> None:
    img = _texture(48, 64)
    with pytest.raises(SpecError, match="preset 'slow'"):
        estimate_flow(img, img, preset="slow")
    with pytest.raises(SpecError, match="differ in size"):
        estimate_flow(img, img[:40])


def test_warp_of_dst_with_estimated_flow_reproduces_src() -> None:
    src = _texture(96, 128, seed=3)
    dst = _shift(src, 2.5, -1.5)
    flow = estimate_flow(src, dst)
    back = warp(dst, flow)
    err = np.abs(back - src)[12:-12, 12:-12]
    assert float(err.mean()) < 0.01
    # Without the flow the frames differ clearly: the check above is not vacuous.
    assert float(np.abs(dst - src)[12:-12, 12:-12].mean()) > 5 * float(err.mean())


def test_warp_exact_translation_and_borders() -> None:
    img = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)
    flow = np.zeros((6, 8, 2), np.float32)
    flow[..., 0] = 1.0  # out(x) = img(x + 1)
    out = warp(img, flow)
    np.testing.assert_allclose(out[:, :-1], img[:, 1:])
    np.testing.assert_allclose(out[:, -1], img[:, -1])  # replicate
    out0 = warp(img, flow, border="constant")
    np.testing.assert_allclose(out0[:, -1], 0.0)
    half = np.zeros((6, 8, 2), np.float32)
    half[..., 1] = 0.5
    np.testing.assert_allclose(warp(img, half)[:-1], 0.5 * (img[:-1] + img[1:]), atol=1e-3)
    many = np.stack([img + c for c in range(6)], axis=-1)
    out6 = warp(many, flow)
    assert out6.shape == (6, 8, 6)
    np.testing.assert_allclose(out6[..., 5], out + 5, atol=1e-4)
    with pytest.raises(SpecError, match="border 'wrap'"):
        warp(img, flow, border="wrap")


def test_inside_mask_marks_correspondences_beyond_the_frame() -> None:
    flow = np.zeros((6, 8, 2), np.float32)
    flow[..., 0] = 2.0  # every pixel looks two columns to the right
    inside = inside_mask(flow)
    assert inside.shape == (6, 8)
    assert inside[:, :6].all()  # x + 2 <= 7, the last column, is still inside
    assert not inside[:, 6:].any()
    flow[0, 0] = (0.0, -0.5)  # half a row above the top edge
    assert not inside_mask(flow)[0, 0]
    with pytest.raises(SpecError, match="expected \\(h, w, 2\\)"):
        inside_mask(np.zeros((6, 8, 3), np.float32))


def test_to_gray8_is_rec709_luma_in_8_bits() -> None:
    pixels = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [2.0, 2.0, 2.0], [np.nan, 0.5, 0.5]]
    rgb = np.array([pixels], np.float32)
    gray = to_gray8(rgb, "probe")
    assert gray.dtype == np.uint8
    assert gray[0, :3].tolist() == [round(255 * float(w)) for w in LUMA]
    assert gray[0, 3:].tolist() == [255, 0]  # clipped above 1; NaN luma counts as black
    with pytest.raises(SpecError, match="probe has 2 channels"):
        to_gray8(np.zeros((4, 4, 2), np.float32), "probe")


def test_occlusion_mask_marks_revealed_region() -> None:
    """A square moves right by 6 px over a static background.

    Frame t-1: square at x in [20, 36); frame t: at [26, 42). On frame t's grid, background pixels at
    x in [20, 26) were hidden under the square in t-1 (they are revealed at t): invalid.
    """
    h, w = 48, 64
    flow_bw = np.zeros((h, w, 2), np.float32)  # t -> t-1
    flow_bw[12:28, 26:42, 0] = -6.0
    flow_fw = np.zeros((h, w, 2), np.float32)  # t-1 -> t
    flow_fw[12:28, 20:36, 0] = 6.0
    valid = occlusion_mask(flow_fw, flow_bw)
    assert valid.dtype == bool and valid.shape == (h, w)
    assert not valid[16:24, 21:25].any()  # revealed background
    assert valid[16:24, 30:38].all()  # inside the square: consistent
    assert valid[40:, :].all() and valid[:, 50:].all()  # static background far away
    # A flow pointing out of the frame has nothing to compare with.
    out = np.zeros((h, w, 2), np.float32)
    out[..., 0] = 5.0
    back = -out
    assert not occlusion_mask(back, out)[:, -3:].any()


def test_flow_from_nuke_vectors() -> None:
    h, w = 4, 5
    aovs = {
        "forward.u": np.full((h, w), 2.0, np.float32),
        "forward.v": np.full((h, w), 3.0, np.float32),  # Nuke: +v is up
        "backward.u": np.full((h, w), -2.0, np.float32),
        "backward.v": np.full((h, w), -3.0, np.float32),
        "depth.Z": np.ones((h, w), np.float32),
    }
    fw = flow_from_vectors(aovs, "forward")
    assert fw is not None and fw.shape == (h, w, 2) and fw.dtype == np.float32
    np.testing.assert_allclose(fw[..., 0], 2.0)
    np.testing.assert_allclose(fw[..., 1], -3.0)
    bw = flow_from_vectors(aovs, "backward", scale=0.5, y_up=False)
    np.testing.assert_allclose(bw[..., 0], -1.0)
    np.testing.assert_allclose(bw[..., 1], -1.5)
    assert vectors_source(aovs, "forward") == FlowSource("vectors:forward.u/v")
    assert flow_from_vectors({"depth.Z": aovs["depth.Z"]}, "forward") is None
    assert vectors_source({}, "backward") is None


def test_flow_from_blender_vector_pass() -> None:
    """An object moving right by 4 px and down (in the image) by 2 px per frame.

    Blender's raster y is up, so p_{t-1} - p_t = (-4, +2) and p_t - p_{t+1} = (-4, +2).
    """
    h, w = 3, 4
    aovs = {
        "ViewLayer.Vector.X": np.full((h, w), -4.0, np.float32),
        "ViewLayer.Vector.Y": np.full((h, w), 2.0, np.float32),
        "ViewLayer.Vector.Z": np.full((h, w), -4.0, np.float32),
        "ViewLayer.Vector.W": np.full((h, w), 2.0, np.float32),
    }
    fw = flow_from_vectors(aovs, "forward")
    bw = flow_from_vectors(aovs, "backward")
    np.testing.assert_allclose(fw[0, 0], [4.0, 2.0])
    np.testing.assert_allclose(bw[0, 0], [-4.0, -2.0])
    assert vectors_source(aovs, "forward") == FlowSource.vectors("Vector")
    assert vectors_source(aovs, "forward").is_vectors
    assert FlowSource.estimated("medium").kind == "estimated:dis-medium"
    with pytest.raises(SpecError, match="direction 'sideways'"):
        flow_from_vectors(aovs, "sideways")


@pytest.mark.parametrize("angle, scale", [(0.0, 1.0), (12.0, 1.0), (0.0, 0.8), (-8.0, 1.25)])
def test_a_smooth_fill_continues_a_layer_that_turned_or_zoomed(angle: float, scale: float) -> None:
    """Keyframe coordinates of a layer that rotated and zoomed since the keyframe are an affine
    map of the frame's; a hole 40 px deep in it (what a passing object uncovered) is continued
    from its visible edge as that map, within a fraction of a pixel, where the plain fill (the
    neighbour's position plus the offset) is pixels off as soon as the layer turned or zoomed."""
    h, w = 60, 90
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.deg2rad(angle)
    a = np.float32([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) / np.float32(scale)
    truth = np.stack([a[0, 0] * xs + a[0, 1] * ys + 30.0, a[1, 0] * xs + a[1, 1] * ys + 5.0], -1)
    motion = np.zeros((h, w, 2), np.float32)  # one layer: the hole moves as its surroundings do
    holes = np.zeros((h, w), bool)
    holes[10:50, 25:65] = True
    field = truth.copy()
    field[holes] = -1000.0  # what a plain warp hands the hole
    (smooth,) = fill_from_layer([field], holes, motion, smooth=True)
    (plain,) = fill_from_layer([field], holes, motion)
    smooth_err = np.abs(smooth - truth).max(axis=-1)[holes]
    plain_err = np.abs(plain - truth).max(axis=-1)[holes]
    assert smooth_err.max() < 0.05, smooth_err.max()
    np.testing.assert_array_equal(smooth[~holes], field[~holes])
    if angle or scale != 1.0:
        assert plain_err.max() > 2.0  # the case can fail
    else:
        np.testing.assert_allclose(smooth, plain, atol=1e-4)


def test_a_smooth_fill_does_not_take_its_gradient_across_a_layer_edge() -> None:
    """The gradient is taken between neighbours of the hole's own layer: an object beside it,
    whose keyframe coordinates jump, does not bend the fill."""
    h, w = 30, 60
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    truth = np.stack([0.9 * xs + 10.0, 0.9 * ys], -1)  # the background, zoomed in a little
    motion = np.zeros((h, w, 2), np.float32)
    motion[:, 40:] = (5.0, 0.0)  # an object on the right moves
    field = truth.copy()
    field[:, 40:] = np.stack([3.0 * xs[:, 40:] - 400.0, -2.0 * ys[:, 40:] + 90.0], -1)
    holes = np.zeros((h, w), bool)
    holes[:, 30:40] = True  # uncovered background between them
    field[holes] = 0.0
    (smooth,) = fill_from_layer([field], holes, motion, smooth=True)
    assert np.abs(smooth - truth).max(axis=-1)[holes].max() < 0.05


def test_carried_positions_keep_the_sub_pixel_motion_where_the_field_is_torn() -> None:
    """Two copied patches meet at a seam (their positions differ by tens of pixels); moved by a
    quarter pixel, every pixel continues its patch by that quarter pixel, at the seam too (away
    from the frame's left edge, where the frame repeats its first column)."""
    from stylelock.core.flow import carry_positions

    h, w = 8, 16
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.stack([xs, ys], axis=-1)
    field[:, 8:] += np.float32([40.0, 3.0])  # the right half is copied from elsewhere
    back = np.zeros((h, w, 2), np.float32)
    back[..., 0] = -0.25  # each pixel came from a quarter pixel to its left
    carried = carry_positions(field, back)
    inner = (slice(None), slice(2, w - 2))
    np.testing.assert_allclose(carried[inner], (field - np.float32([0.25, 0.0]))[inner], atol=1e-4)


def test_positions_carried_for_many_frames_do_not_drift() -> None:
    """24 carries at 0.3 px a frame land 7.2 px on, to float precision (a bilinear remap whose
    weights are quantized to 1/32 px would be 0.3 px off by then)."""
    from stylelock.core.flow import carry_positions, warp

    h, w = 12, 48
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    start = np.stack([xs, ys], axis=-1)
    back = np.zeros((h, w, 2), np.float32)
    back[..., 0] = -0.3
    carried, warped = start, start
    for _ in range(24):
        carried = carry_positions(carried, back)
        warped = warp(warped, back)
    inner = (slice(None), slice(16, w - 2))  # clear of what enters from the left edge
    np.testing.assert_allclose(carried[inner], (start - np.float32([7.2, 0.0]))[inner], atol=1e-3)
    assert np.abs(warped - carried)[inner].max() > 0.1  # the drift this avoids
    # any float flow is taken (OpenCV's remap, which does the fetching, wants float32 maps)
    np.testing.assert_allclose(carry_positions(start, back.astype(np.float64)), carry_positions(start, back))
