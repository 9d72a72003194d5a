"""An edited round trip checked against OCIO itself, not against the codec that made it.

The pipeline decodes an engine's *change* (`core/colour/codec.py`), so an engine that leaves model
space alone gets the plate back bit for bit whatever the inverse transform does. To prove the
inverse, an engine must change the picture by an amount known exactly: `HalveEngine`
(`pipeline_engines`) halves every model-space value (a power of two: exact in float32, and
exactly undone by doubling). What the plate should then become is computed here straight from the
bundled OCIO config, one processor each way, without the codec:

    expected = alpha * OCIO(encoded -> input)(0.5 * clip(OCIO(input -> encoded)(rgb / alpha), 0, 1))

(alpha <= ALPHA_EPSILON counts as 1: glows keep their RGB). The formula holds for every pixel the
encoding carries and for highlights it clipped at 1 (painted darker below the top of the encoding,
a clipped highlight becomes what the engine painted; docs/colour.md), so the plate is built from
such pixels: mild colours inside Rec.709 (and so inside AP1) from 0.005 to 0.96, greys of 5, 40
and 150, soft and zero alpha, a NaN and an Inf pixel.

    write_reference_plate(folder, frames, input_space) -> pattern
    assert_halved(plate_path, out_path, input_space, encoding)
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import PyOpenColorIO as OCIO
from exr_fixtures import read_native, write_test_exr

from stylelock.core.colour import ALPHA_EPSILON, bundled_config, resolve_colorspace
from stylelock.core.sequence import FramePattern

#: docs/colour.md: the round trip's bound, max relative error (floor 1e-4 absolute, as the passthrough
#: tests measure it), relative to the larger of the pixel before and after the edit.
RELATIVE_TOLERANCE = 1e-4
HEIGHT, WIDTH = 24, 40
HIGHLIGHTS = (5.0, 40.0, 150.0)


@cache
def _processor(src: str, dst: str) -> OCIO.CPUProcessor:
    config = bundled_config().config
    return config.getProcessor(src, dst).getDefaultCPUProcessor()


def _apply(src: str, dst: str, rgb: np.ndarray) -> np.ndarray:
    pixels = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 3).copy()
    _processor(src, dst).applyRGB(pixels)
    return pixels.reshape(rgb.shape)


def _spaces(input_space: str, encoding: str) -> tuple[str, str]:
    config = bundled_config()
    encoded = config.config.getRoleColorSpace(f"stylelock_{encoding}_encoded")
    return resolve_colorspace(config, input_space), encoded


def write_reference_plate(folder: str | os.PathLike[str], frames: list[int], input_space: str) -> str:
    """Float RGBA frames in `input_space` (premultiplied) and an AOV; returns the pattern."""
    linear709 = resolve_colorspace(bundled_config(), "Linear Rec.709")
    space = resolve_colorspace(bundled_config(), input_space)
    pattern = FramePattern.parse(os.path.join(os.fspath(folder), "ref.####.exr"))
    os.makedirs(folder, exist_ok=True)
    for frame in frames:
        rng = np.random.default_rng(frame)
        grey = 10.0 ** rng.uniform(-2.3, -0.1, (HEIGHT, WIDTH, 1))
        rgb709 = (grey * rng.uniform(0.8, 1.2, (HEIGHT, WIDTH, 3))).astype(np.float32)
        rgb709[0, : len(HIGHLIGHTS)] = np.array(HIGHLIGHTS, np.float32)[:, None]
        unpremult = _apply(linear709, space, rgb709)
        alpha = rng.uniform(0.05, 1.0, (HEIGHT, WIDTH)).astype(np.float32)
        alpha[1:4] = 1.0
        alpha[4, :6] = [0.0, 0.0, 1e-7, ALPHA_EPSILON, 2e-6, 1e-3]  # glows, then barely covered
        rgb = unpremult * np.where(alpha > ALPHA_EPSILON, alpha, 1.0)[..., None]
        rgb[5, 5] = [np.nan, 0.5, 0.5]
        rgb[6, 6, 2] = np.inf
        channels = {name: rgb[..., c].copy() for c, name in enumerate("RGB")}
        channels["A"] = alpha
        channels["depth.Z"] = rng.uniform(1.0, 100.0, (HEIGHT, WIDTH)).astype(np.float32)
        write_test_exr(pattern.path(frame), channels)
    return pattern.pattern


def halved(rgb: np.ndarray, alpha: np.ndarray, input_space: str, encoding: str) -> np.ndarray:
    """What halving model space must make of premultiplied `rgb`, from OCIO's own processors."""
    space, encoded = _spaces(input_space, encoding)
    divisor = np.where(alpha > ALPHA_EPSILON, alpha, 1.0)[..., None].astype(np.float32)
    model = np.clip(_apply(space, encoded, rgb / divisor), 0.0, 1.0) * np.float32(0.5)
    expected = _apply(encoded, space, model) * divisor
    bad = ~np.isfinite(rgb).all(axis=-1)
    expected[bad] = rgb[bad]  # NaN/Inf pixels come back as they were
    return expected


def assert_halved(plate_path: str, out_path: str, input_space: str, encoding: str) -> None:
    """`out_path` is the halved `plate_path` within the documented tolerance; alpha and AOVs exact."""
    (plate,), (out,) = read_native(plate_path), read_native(out_path)
    rgb = np.stack([plate[c] for c in "RGB"], axis=-1)
    got = np.stack([out[c] for c in "RGB"], axis=-1)
    expected = halved(rgb, plate["A"], input_space, encoding)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.array_equal(np.isinf(got), np.isinf(expected)) and np.array_equal(
        got[np.isinf(expected)], expected[np.isinf(expected)]
    )
    finite = np.isfinite(expected).all(axis=-1)
    # The codec adds the engine's change to the plate, so its precision is relative to the larger of
    # the pixel before (its largest channel) and after: a highlight of 150 darkened to 0.4 carries
    # the float32 precision of 150.
    before = np.abs(rgb[finite]).max(axis=-1, keepdims=True)
    scale = np.maximum(np.maximum(np.abs(expected[finite]), before), 1e-4)
    error = float((np.abs(got[finite].astype(np.float64) - expected[finite]) / scale).max())
    assert error <= RELATIVE_TOLERANCE, f"{input_space}/{encoding}: max relative error {error:.3g}"
    for name in ("A", "depth.Z"):
        assert np.array_equal(out[name].view(np.uint32), plate[name].view(np.uint32)), name
