"""The keyframe engine's building blocks: kernels (numba against torch), random numbers, the
pyramid synthesis, StyleBlit and the seamless keyframe blend."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stylelock.server.engines.keyframe import blend, rng
from stylelock.server.engines.keyframe.backend import NumbaBackend, TorchBackend, make_backend
from stylelock.server.engines.keyframe.guides import GuideWeights, coords, plate_guides
from stylelock.server.engines.keyframe.styleblit import styleblit, styleblit_reference
from stylelock.server.engines.keyframe.synth import Schedule, build_source, identity_nnf, synthesize


def _smooth_noise(h: int, w: int, c: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    import cv2

    r = np.random.default_rng(seed)
    planes = [cv2.GaussianBlur(r.random((h, w)).astype(np.float32), (0, 0), sigma) for _ in range(c)]
    out = np.stack(planes, axis=-1)
    out = (out - out.min()) / (np.ptp(out) + 1e-6)
    return np.ascontiguousarray(out.astype(np.float32))


@pytest.fixture(scope="module")
def backends():
    return NumbaBackend(), TorchBackend("cpu")


def test_random_numbers_agree_on_every_device() -> None:
    import torch

    from stylelock.server.engines.keyframe import kernels_numba, kernels_torch

    pixels = np.arange(0, 5000, 7, dtype=np.uint64)
    key = rng.mix(1234, 1001, 3)
    ours = rng.draw(key, pixels, 5)
    torched = kernels_torch.draw(key, torch.from_numpy(pixels.astype(np.int64)), 5).numpy()
    numbaed = np.array([kernels_numba.draw(key, int(p), 5) for p in pixels[:50]])
    assert np.array_equal(ours.astype(np.int64), torched)
    assert np.array_equal(ours[:50].astype(np.int64), numbaed)
    assert len(np.unique(ours)) == len(ours)  # no collisions on a small range
    assert rng.mix(1, 2) != rng.mix(2, 1)


def test_numba_and_torch_kernels_agree(backends) -> None:
    nb, tb = backends
    h, w, hs, ws, c, p = 24, 32, 20, 28, 5, 5
    r = p // 2
    tgt = nb.pad(_smooth_noise(h, w, c, 1) * 255, r)
    src = nb.pad(_smooth_noise(hs, ws, c, 2) * 255, r)
    style = nb.pad(_smooth_noise(hs, ws, 3, 3), r)
    gen = np.random.default_rng(4)
    nnf = np.ascontiguousarray(
        np.stack([gen.integers(0, ws, (h, w)), gen.integers(0, hs, (h, w))], -1).astype(np.int32)
    )
    T = tb.asarray

    err_n = nb.patch_errors(tgt, src, nnf, p)
    err_t = tb.numpy(tb.patch_errors(T(tgt), T(src), T(nnf), p))
    np.testing.assert_allclose(err_n, err_t, rtol=1e-4)

    np.testing.assert_allclose(nb.vote(style, nnf, r), tb.numpy(tb.vote(T(style), T(nnf), r)), atol=1e-6)

    occ_n = nb.occupancy(nnf, hs, ws, p, omega_best=h * w / (hs * ws) * p * p)
    occ_t = tb.numpy(tb.occupancy(T(nnf), hs, ws, p, omega_best=h * w / (hs * ws) * p * p))
    np.testing.assert_array_equal(occ_n, occ_t)
    assert 0.7 < float(occ_n[4:-4, 4:-4].mean()) < 1.3  # a random field uses the source about evenly

    radii = [16, 8, 4, 2, 1]
    nnf_n, e_n = nb.sweep(tgt, src, nnf, err_n, occ_n, 3500.0, p, radii, 77)
    nnf_t, e_t = tb.sweep(T(tgt), T(src), T(nnf), T(err_n), T(occ_n), 3500.0, p, radii, 77)
    same = (nnf_n == tb.numpy(nnf_t)).all(-1)
    assert same.mean() > 0.99
    np.testing.assert_allclose(e_n[same], tb.numpy(e_t)[same], rtol=1e-4)
    assert (e_n <= err_n + 1e-3).all() or (e_n.mean() < err_n.mean())  # the sweep improved matches


def _lanczos4(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``image`` sampled at (``x``, ``y``) with the separable Lanczos kernel of a = 4 (8 taps a
    side, weights normalised to sum to 1, edge pixels repeated): the reference, written out."""
    h, w = image.shape[:2]
    out = np.zeros((*x.shape, image.shape[2]), np.float64)
    for idx in np.ndindex(x.shape):
        x0, y0 = int(np.floor(x[idx])), int(np.floor(y[idx]))
        taps = np.arange(-3, 5)
        wx, wy = (np.sinc(d) * np.sinc(d / 4) for d in (x[idx] - (x0 + taps), y[idx] - (y0 + taps)))
        wx, wy = wx / wx.sum(), wy / wy.sum()
        rows = np.clip(y0 + taps, 0, h - 1)
        cols = np.clip(x0 + taps, 0, w - 1)
        out[idx] = np.einsum("i,j,ijc->c", wy, wx, image[np.ix_(rows, cols)].astype(np.float64))
    return out


def test_subpixel_kernels_agree_and_interpolate(backends) -> None:
    nb, tb = backends
    h, w, c, p = 20, 30, 4, 5
    r = p // 2
    src_img = _smooth_noise(h, w, c, 11) * 255
    src = nb.pad(src_img, r)
    gen = np.random.default_rng(12)
    field = np.stack([gen.uniform(0, w - 1, (h, w)), gen.uniform(0, h - 1, (h, w))], -1).astype(np.float32)
    tgt = nb.pad(_smooth_noise(h, w, c, 13) * 255, r)
    T = tb.asarray
    e_n = nb.patch_errors_float(tgt, src, field, p)
    np.testing.assert_allclose(e_n, tb.numpy(tb.patch_errors_float(T(tgt), T(src), T(field), p)), rtol=1e-4)
    # at whole-pixel positions it is the ordinary patch distance
    whole = np.ascontiguousarray(np.clip(np.rint(field), 0, [w - 1 - p, h - 1 - p]).astype(np.int32))
    np.testing.assert_allclose(
        nb.patch_errors_float(tgt, src, whole.astype(np.float32), p),
        nb.patch_errors(tgt, src, whole, p),
        rtol=1e-4,
    )
    style = nb.pad(_smooth_noise(h, w, 3, 14), r)
    exact = gen.random((h, w)) < 0.5
    v_n = nb.vote_float(style, field, exact, r)
    np.testing.assert_allclose(v_n, tb.numpy(tb.vote_float(T(style), T(field), T(exact), r)), atol=1e-5)
    # an exact pixel is its own Lanczos-4 sample (the borders repeated); whole-pixel fields vote
    # as the integer kernel does
    sample = _lanczos4(style, field[..., 0] + r, field[..., 1] + r)
    np.testing.assert_allclose(v_n[exact], sample[exact], atol=1e-5)
    none = np.zeros((h, w), bool)
    np.testing.assert_allclose(
        nb.vote_float(style, whole.astype(np.float32), none, r), nb.vote(style, whole, r), atol=1e-6
    )
    # without neighbours to average (r = 0) a pixel that is not exact is still sampled bilinearly,
    # on both backends alike
    flat = nb.pad(_smooth_noise(h, w, 3, 15), 0)
    v0 = nb.vote_float(flat, field, exact, 0)
    np.testing.assert_allclose(v0, tb.numpy(tb.vote_float(T(flat), T(field), T(exact), 0)), atol=1e-5)
    np.testing.assert_allclose(v0[exact], _lanczos4(flat, field[..., 0], field[..., 1])[exact], atol=1e-5)


def test_synthesis_agrees_across_backends_and_recovers_a_shift(backends) -> None:
    h, w = 40, 56
    weights = GuideWeights()
    plate = _smooth_noise(h + 8, w + 8, 3, 5, sigma=1.5)
    key_plate, target_plate = plate[:h, :w], plate[3 : 3 + h, 2 : 2 + w]  # target(x) = key(x + (2, 3))
    style = np.ascontiguousarray(1.0 - key_plate)
    src_guides = plate_guides(key_plate, None, coords(h, w), float(w), weights, False)
    positions = coords(h, w) + np.float32([2, 3])
    tgt_guides = plate_guides(target_plate, None, positions, float(w), weights, False)
    scale = 255.0 * np.sqrt(1.0 / 3.0)
    sched = Schedule(levels=2, search_vote=2, fine_search_vote=2, radius=8)
    results = []
    for b in backends:
        source = build_source(b, src_guides, style, scale, 2, 5)
        results.append(
            synthesize(b, source, tgt_guides, sched, 99, style_scale=scale, init=identity_nnf(h, w))
        )
    a, c = results
    inner = (slice(4, -6), slice(4, -6))
    expect = identity_nnf(h, w) + np.int32([2, 3])
    assert ((a.nnf == expect).all(-1)[inner]).mean() > 0.95
    assert ((a.nnf == c.nnf).all(-1)).mean() > 0.97
    np.testing.assert_allclose(a.style[inner], (1.0 - target_plate)[inner], atol=0.02)


def test_make_backend_honours_the_device() -> None:
    import torch

    assert make_backend("cpu").name == "numba"
    assert make_backend("auto").name == ("torch-cuda" if torch.cuda.is_available() else "numba")
    if not torch.cuda.is_available():
        from stylelock.core.errors import EngineError

        with pytest.raises(EngineError, match="cuda"):
            make_backend("cuda")


def test_styleblit_copies_chunks_along_the_positions() -> None:
    h, w = 48, 64
    weights = GuideWeights()
    img = _smooth_noise(h + 4, w + 4, 3, 8, sigma=1.0)
    key, target = img[:h, :w], img[2 : 2 + h, 1 : 1 + w]  # target(x) = key(x + (1, 2))
    positions = coords(h, w) + np.float32([1, 2])
    src = plate_guides(key, None, coords(h, w), float(w), weights, False)
    tgt = plate_guides(target, None, positions, float(w), weights, False)
    nnf, err = styleblit(positions, tgt, src, 8.5, 24.0, seed=3)
    inner = (slice(0, h - 2), slice(0, w - 1))
    exact = (nnf == identity_nnf(h, w) + np.int32([1, 2])).all(-1)[inner]
    assert exact.mean() > 0.9
    assert err[inner].max() < 24.0
    # the jitter table is frozen: same seed, same chunks on every frame
    again, _ = styleblit(positions, tgt, src, 8.5, 24.0, seed=3)
    assert np.array_equal(nnf, again)
    # the numba kernel computes what the numpy reference does, also where chunks must split
    wobbly = (
        positions + np.stack([np.sin(coords(h, w)[..., 1] / 5), np.cos(coords(h, w)[..., 0] / 7)], -1) * 3
    )
    fast, fast_err = styleblit(wobbly, tgt, src, 8.5, 10.0, seed=5)
    ref, ref_err = styleblit_reference(wobbly, tgt, src, 8.5, 10.0, seed=5)
    assert (fast == ref).all(-1).mean() > 0.999
    np.testing.assert_allclose(fast_err, ref_err, rtol=1e-3, atol=1e-3)


def test_poisson_solve_reproduces_an_image_from_its_own_gradients() -> None:
    img = _smooth_noise(33, 47, 1, 9)[..., 0]
    gx, gy = blend._gradients(img)
    out = blend._poisson(np.full_like(img, img.mean()), gx, gy, 1e-4)
    assert np.abs(out - img).max() < 2e-3


def _stripes(h: int, w: int, phase: float) -> np.ndarray:
    xs = np.arange(w, dtype=np.float32)[None, :, None]
    ys = np.arange(h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(0.5 + 0.3 * np.sin(0.8 * (xs + phase) + 0.3 * ys), (h, w, 3)).astype(np.float32)


def _highpass_energy(img: np.ndarray) -> float:
    import cv2

    return float(np.abs(img - cv2.GaussianBlur(img, (0, 0), 3.0)).mean())


def test_blend_leaves_no_seam_and_no_ghost() -> None:
    h, w = 40, 80
    fwd = _stripes(h, w, 0.0)
    bwd = _stripes(h, w, 3.9) + np.float32(0.15)  # texture in opposite phase, brighter
    err_f = np.zeros((h, w), np.float32)
    err_b = np.zeros((h, w), np.float32)
    err_f[:, w // 2 :] = 1e5  # forward is wrong on the right half, backward on the left
    err_b[:, : w // 2] = 1e5
    out = blend.merge(fwd, err_f, bwd, err_b, 0.5)
    # no seam: across the switch, the step is no larger than the textures' own steps
    col = w // 2
    step = np.abs(out[:, col] - out[:, col - 1]).mean()
    natural = max(np.abs(np.diff(fwd, axis=1)).mean(), np.abs(np.diff(bwd, axis=1)).mean())
    naive = np.where((err_f <= err_b)[..., None], fwd, bwd)
    assert step < 1.5 * natural < np.abs(naive[:, col] - naive[:, col - 1]).mean()
    # no ghost: the texture keeps its contrast, unlike a cross-fade of the two
    crossfade = 0.5 * (fwd + bwd)
    assert _highpass_energy(out) > 0.9 * _highpass_energy(fwd) > 1.3 * _highpass_energy(crossfade)
    # each side keeps its own texture's phase
    np.testing.assert_allclose(
        out[:, 5:30] - out[:, 5:30].mean(), fwd[:, 5:30] - fwd[:, 5:30].mean(), atol=0.06
    )


def test_blend_hands_over_gradually_between_keyframes() -> None:
    """Equal errors everywhere (both passes track well): an outright selection swaps every pixel's
    texture in one frame at the midpoint; the soft hand-over spreads that change over frames."""
    h, w = 40, 80
    fwd = _stripes(h, w, 0.0)
    bwd = _stripes(h, w, 3.9) + np.float32(0.15)
    err = np.full((h, w), 50.0, np.float32)
    shares = np.linspace(0.05, 0.95, 19)

    def largest_step(switch: float) -> float:
        outs = [blend.merge(fwd, err, bwd, err, wb, switch=switch) for wb in shares]
        return max(float(np.abs(b - a).mean()) for a, b in itertools.pairwise(outs))

    hard, soft = largest_step(0.0), largest_step(blend.SWITCH)
    assert soft < 0.4 * hard
    # near a keyframe the soft hand-over still gives that keyframe's pass, texture and all
    near = blend.merge(fwd, err, bwd, err, 0.1)
    np.testing.assert_allclose(near - near.mean((0, 1)), fwd - fwd.mean((0, 1)), atol=0.03)
    weights = [float(blend.forward_weight(err, err, wb, blend.SWITCH).mean()) for wb in shares]
    assert weights == sorted(weights, reverse=True) and weights[0] == 1.0 and weights[-1] == 0.0


def test_histogram_blend_keeps_mean_and_spread() -> None:
    a = _stripes(30, 50, 0.0)
    b = _stripes(30, 50, 3.9) * 0.5 + 0.2
    out = blend.histogram_blend(a, b, 0.25)
    np.testing.assert_allclose(out.mean((0, 1)), 0.75 * a.mean((0, 1)) + 0.25 * b.mean((0, 1)), atol=1e-4)
    np.testing.assert_allclose(out.std((0, 1)), 0.75 * a.std((0, 1)) + 0.25 * b.std((0, 1)), rtol=1e-3)
    # passes that agree are returned as they are, not over-sharpened
    np.testing.assert_allclose(blend.histogram_blend(a, a.copy(), 0.5), a, atol=1e-5)


def test_an_outright_selection_uses_the_winners_gradients_bit_for_bit() -> None:
    """switch=0 (EbSynth's pick): where one pass wins everywhere, the result is that pass's own
    gradients reintegrated, not `bx + 1 * (fx - bx)` (which is an ulp off for some pixels)."""
    rng = np.random.default_rng(4)
    fwd, bwd = (rng.random((24, 32, 3), dtype=np.float32) for _ in range(2))
    wins, loses = np.zeros((24, 32), np.float32), np.full((24, 32), 1e4, np.float32)
    fx, fy = blend._gradients(fwd[..., 0])
    bx, _ = blend._gradients(bwd[..., 0])
    assert np.any(bx + np.float32(1.0) * (fx - bx) != fx)  # the rounding the selection must avoid
    for wb in (0.3, 0.7):
        out = blend.merge(fwd, wins, bwd, loses, wb, switch=0.0)
        blended = blend.histogram_blend(fwd, bwd, wb)
        expected = blend._poisson(blended[..., 0], fx, fy, blend.LAMBDA)
        np.testing.assert_array_equal(out[..., 0], np.clip(expected, 0.0, 1.0))


def test_a_pass_votes_paint_within_its_range_where_the_sharp_kernel_overshoots() -> None:
    """Lanczos rings at a crisp edge: the raw sub-pixel vote leaves [0, 1], the pass's paint (its
    output and the next frame's temporal guide) does not."""
    from stylelock.server.engines.base import ModelFrame
    from stylelock.server.engines.keyframe.propagate import Keyframe, Pass, Settings

    h, w = 16, 24
    style = np.zeros((h, w, 3), np.float32)
    style[:, w // 2 :] = 1.0  # a crisp edge: black ink against white paper
    backend = NumbaBackend()
    settings = Settings(backend, None, Schedule(), GuideWeights(), "styleblit", 0, 0.0)
    key = Keyframe(0, style, ModelFrame(0, style.copy()))
    field = coords(h, w) + np.float32([0.3, 0.0])
    exact = np.ones((h, w), bool)
    raw = backend.numpy(backend.vote_float(key.padded_style(backend, 1), field, exact, 1))
    assert raw.min() < -0.01 and raw.max() > 1.01  # the case can fail
    voted = Pass(settings, key, +1).vote(field, exact)
    assert voted.min() >= 0.0 and voted.max() <= 1.0
    np.testing.assert_array_equal(voted, np.clip(raw, 0.0, 1.0))
