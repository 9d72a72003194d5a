"""The detail band's gain: tracked paint resampled between pixels keeps its fine texture.

Validated where the answer is known: brush grain (noise) resampled at a half-pixel offset by the
engine's own kernel loses a measurable share of its 1 px energy; with the gain it comes back to
the painted level, at whole pixels nothing changes, and flat paint is never amplified.
"""

from __future__ import annotations

import numpy as np
import pytest

from stylelock.server.engines.base import ModelFrame
from stylelock.server.engines.keyframe import detail
from stylelock.server.engines.keyframe.backend import NumbaBackend, TorchBackend
from stylelock.server.engines.keyframe.guides import GuideWeights, coords
from stylelock.server.engines.keyframe.propagate import Keyframe, Pass, Settings
from stylelock.server.engines.keyframe.synth import Schedule

R = Schedule().patch // 2


def _grain(h: int, w: int, seed: int) -> np.ndarray:
    """Paint with brush grain: a smooth colour field plus fine, slightly blurred noise."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 6.0)
    grain = cv2.GaussianBlur(rng.standard_normal((h, w, 3)).astype(np.float32), (0, 0), 0.4)
    return np.clip(0.2 + 0.6 * base + 0.08 * grain, 0.0, 1.0).astype(np.float32)


def _fine_energy(image: np.ndarray) -> float:
    """Mean energy of the 1 px high-pass of the luminance, away from the borders."""
    import cv2

    lum = image[..., :3].mean(axis=-1)
    high = lum - cv2.GaussianBlur(lum, (0, 0), 1.0)
    return float(np.square(high[12:-12, 12:-12]).mean())


def _pass(backend, paint: np.ndarray) -> Pass:
    settings = Settings(backend, None, Schedule(), GuideWeights(), "ebsynth", 0, 0.0)
    return Pass(settings, Keyframe(0, paint, ModelFrame(0, paint.copy())), +1)


@pytest.fixture(scope="module")
def paint() -> np.ndarray:
    return _grain(96, 128, 3)


def test_gain_is_one_at_whole_pixels_and_largest_halfway(paint) -> None:
    backend = NumbaBackend()
    band = backend.pad(detail.detail_band(paint), R)
    table = detail.gain_table(backend, band, R, *paint.shape[:2])
    assert table.shape == (detail.STEPS + 1, detail.STEPS + 1)
    corners = table[[0, 0, -1, -1], [0, -1, 0, -1]]
    np.testing.assert_allclose(corners, 1.0, atol=1e-6)
    half = detail.STEPS // 2
    assert table[half, half] == table.max() and table[half, half] > 1.2
    assert table.max() <= detail.MAX_GAIN
    # the gain is looked up continuously, wrapping at whole pixels
    field = np.float32([[[3.0, 7.0], [3.5, 7.5], [4.999, 7.0], [5.0, 7.0]]])
    g = detail.gain_at(detail.lookup_table(table), field)[0]
    assert g[0] == pytest.approx(1.0) and g[3] == pytest.approx(1.0)
    assert g[1] == pytest.approx(table[half, half]) and abs(g[2] - 1.0) < 0.01


def test_half_pixel_resampling_keeps_the_painted_texture(paint) -> None:
    """The case with a known answer: grain moved by (0.5, 0.5) px has the same fine energy."""
    backend = NumbaBackend()
    h, w = paint.shape[:2]
    field = coords(h, w) + np.float32([0.5, 0.5])
    exact = np.ones((h, w), bool)
    plain = backend.numpy(backend.vote_float(backend.pad(paint, R), field, exact, R))
    kept = _pass(backend, paint).vote(field, exact)
    painted = _fine_energy(paint)
    assert _fine_energy(plain) / painted < 0.8  # the loss the case must show
    assert 0.92 < _fine_energy(kept) / painted < 1.08
    # the gain touches the detail band only: the picture's low-passed content stays the kernel's
    import cv2

    low = [cv2.GaussianBlur(x, (0, 0), 2.0)[12:-12, 12:-12] for x in (plain, kept)]
    assert np.abs(low[0] - low[1]).mean() < 0.1 * np.abs(kept - plain)[12:-12, 12:-12].mean()


def test_whole_pixels_and_searched_pixels_are_voted_as_before(paint) -> None:
    backend = NumbaBackend()
    h, w = paint.shape[:2]
    whole = coords(h, w) + np.float32([2.0, 1.0])
    exact = np.ones((h, w), bool)
    exact[40:60, 50:90] = False  # pixels that average their neighbours' patches
    plain = backend.numpy(backend.vote_float(backend.pad(paint, R), whole, exact, R))
    np.testing.assert_allclose(_pass(backend, paint).vote(whole, exact), np.clip(plain, 0, 1), atol=1e-6)
    shifted = whole + np.float32([0.37, 0.61])
    plain = np.clip(backend.numpy(backend.vote_float(backend.pad(paint, R), shifted, exact, R)), 0, 1)
    kept = _pass(backend, paint).vote(shifted, exact)
    np.testing.assert_allclose(kept[~exact], plain[~exact], atol=1e-6)
    assert np.abs(kept[exact] - plain[exact]).max() > 0.01


def test_flat_or_tiny_paint_is_not_amplified() -> None:
    backend = NumbaBackend()
    flat = np.full((40, 60, 3), 0.4, np.float32)
    band = backend.pad(detail.detail_band(flat), R)
    assert np.abs(detail.detail_band(flat)).max() > 0  # the blur's rounding the threshold must ignore
    np.testing.assert_array_equal(detail.gain_table(backend, band, R, 40, 60), 1.0)
    tiny = _grain(20, 60, 4)  # too few rows to measure on away from the kernel's reach
    band = backend.pad(detail.detail_band(tiny), R)
    np.testing.assert_array_equal(detail.gain_table(backend, band, R, 20, 60), 1.0)


def test_a_matte_is_resampled_without_the_gain(paint) -> None:
    """The alpha of an RGBA paint is not brush texture: its edge is voted as the kernel gives it,
    while the colour's detail gets its contrast back."""
    backend = NumbaBackend()
    h, w = paint.shape[:2]
    matte = np.zeros((h, w, 1), np.float32)
    matte[:, w // 2 :] = 1.0
    rgba = np.ascontiguousarray(np.concatenate([paint, matte], axis=-1))
    field = coords(h, w) + np.float32([0.5, 0.25])
    exact = np.ones((h, w), bool)
    plain = np.clip(backend.numpy(backend.vote_float(backend.pad(rgba, R), field, exact, R)), 0, 1)
    kept = _pass(backend, rgba).vote(field, exact)
    np.testing.assert_allclose(kept[..., 3], plain[..., 3], atol=1e-6)
    assert np.abs(kept[..., :3] - plain[..., :3]).max() > 0.01


def test_both_backends_measure_the_same_gain(paint) -> None:
    numba, torch_cpu = NumbaBackend(), TorchBackend("cpu")
    tables = []
    for backend in (numba, torch_cpu):
        band = backend.pad(backend.asarray(detail.detail_band(paint)), R)
        tables.append(detail.gain_table(backend, band, R, *paint.shape[:2]))
    np.testing.assert_allclose(tables[0], tables[1], rtol=1e-4)
