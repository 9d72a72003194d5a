"""Keeping the paint's fine texture where it is resampled at sub-pixel positions.

Tracked paint is read from the keyframe at the sub-pixel position its surface has moved to, with a
Lanczos kernel. Any interpolating kernel halfway between two samples averages them, so the finest
texture (brush grain, paper, crisp stroke edges) loses part of its contrast; how much depends only
on the fractional part of the position: nothing at a whole pixel, most at half a pixel. A surface
drifting slowly across the grid therefore pulses between crisp and soft, and on average comes
back about a sixth less textured than it was painted.

The remedy follows variance-preserving texture advection (Yu et al. 2011, "Lagrangian Texture
Advection: Preserving both Spectrum and Velocity Field"): split the paint into a smooth band and
its detail band (the paint minus its 1 px Gaussian blur); resample both with the same kernel, and
give the detail band back the contrast the kernel took at that fractional position. The gain is
measured once per keyframe on the paint's own detail band (its spectrum decides how much a
half-pixel sample loses), over a grid of fractional positions, with the very kernel the engine
votes with; so at a whole pixel it is exactly 1 and a keyframe comes back as painted. Nothing is
invented: the gain scales texture the keyframe painted at that very place, and varies smoothly
with the position, so a drifting surface keeps an even texture instead of pulsing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stylelock.server.engines.keyframe.backend import Backend

#: Gaussian sigma, in pixels, of the blur whose residue is the detail band.
DETAIL_SIGMA = 1.0
#: Fractional positions per axis at which the kernel's loss is measured (table of STEPS + 1).
STEPS = 8
#: Most sample points per axis used to measure it (a regular grid over the keyframe).
GRID = 96
#: Fewest sample points per axis worth measuring on (smaller paints get no gain).
MIN_GRID = 8
#: Mean squared detail (per sample, RGB summed) under which paint counts as flat: 1e-8 is about
#: 1/10000 of a code value of 8-bit paint, far under any brush texture.
FLAT_ENERGY = 1e-8
#: The largest gain given back: a kernel never loses more than this on real paint; a detail band
#: that is almost empty (flat paint) must not be amplified into noise.
MAX_GAIN = 2.0


def detail_band(style: np.ndarray) -> np.ndarray:
    """The paint's colour minus its `DETAIL_SIGMA` Gaussian blur, channel by channel.

    Colour only: a matte's edge is not brush texture, and given the texture's gain it would ring
    outside and dip inside the edge, differently at every fraction of a pixel."""
    import cv2

    rgb = np.ascontiguousarray(style[..., :3], dtype=np.float32)
    blurred = cv2.GaussianBlur(rgb, (0, 0), DETAIL_SIGMA, borderType=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(rgb - blurred.reshape(rgb.shape), dtype=np.float32)


def gain_table(backend: Backend, padded_detail: Any, r: int, h: int, w: int) -> np.ndarray:
    """(STEPS + 1, STEPS + 1) gain by fractional position (row: y fraction, column: x fraction).

    ``padded_detail`` is the detail band on the backend, padded by ``r`` as the style is for
    voting. The gain is sqrt(energy at whole pixels / energy resampled at that fraction), over
    the same grid of points, with the engine's own kernel."""
    margin = 8  # the kernel's reach: samples whose taps all lie on the paint
    ones = np.ones((STEPS + 1, STEPS + 1), dtype=np.float32)
    if h < 2 * margin + MIN_GRID or w < 2 * margin + MIN_GRID:
        return ones  # too small a paint to measure its texture's spectrum on
    ny = min(GRID, h - 2 * margin)
    nx = min(GRID, w - 2 * margin)
    ys = np.linspace(margin, h - margin - 1, ny).round().astype(np.float32)
    xs = np.linspace(margin, w - margin - 1, nx).round().astype(np.float32)
    gx, gy = np.meshgrid(xs, ys)
    exact = backend.asarray(np.ones((ny, nx), dtype=bool))
    energy = np.empty((STEPS + 1, STEPS + 1), dtype=np.float64)
    for j in range(STEPS):
        for i in range(STEPS):
            field = np.stack([gx + i / STEPS, gy + j / STEPS], axis=-1).astype(np.float32)
            sampled = backend.numpy(backend.vote_float(padded_detail, backend.asarray(field), exact, r))
            energy[j, i] = float(np.square(sampled, dtype=np.float64).sum())
    whole = energy[0, 0]
    if whole <= FLAT_ENERGY * ny * nx:
        return ones  # flat paint: what is left of its blur is rounding, not texture
    # the table wraps: a whole pixel further on is a whole pixel again
    energy[:, STEPS] = energy[:, 0]
    energy[STEPS, :] = energy[0, :]
    gain = np.sqrt(whole / np.maximum(energy, 1e-12))
    return np.clip(gain, 1.0, MAX_GAIN).astype(np.float32)


#: Steps per axis of the table `gain_at` looks up (bilinear from the measured one, built once).
LOOKUP = 64


def lookup_table(table: np.ndarray) -> np.ndarray:
    """The measured (STEPS + 1)^2 table, bilinearly resampled to (LOOKUP + 1)^2 for `gain_at`."""
    at = np.linspace(0.0, STEPS, LOOKUP + 1)
    lo = np.minimum(at.astype(np.intp), STEPS - 1)
    t = at - lo
    rows = table[lo] * (1 - t)[:, None] + table[lo + 1] * t[:, None]
    return (rows[:, lo] * (1 - t)[None, :] + rows[:, lo + 1] * t[None, :]).astype(np.float32)


def gain_at(lookup: np.ndarray, field: np.ndarray) -> np.ndarray:
    """(h, w) gain at each position of a sub-pixel ``field`` (h, w, 2): the `lookup_table` entry
    nearest its fractional part (1/64 px apart: the gain hardly changes between entries)."""
    ix = np.rint((field[..., 0] - np.floor(field[..., 0])) * LOOKUP).astype(np.intp)
    iy = np.rint((field[..., 1] - np.floor(field[..., 1])) * LOOKUP).astype(np.intp)
    return lookup[iy, ix]
