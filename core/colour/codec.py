"""Plate pixels into an engine's model space and back, without losing what the encoding cannot carry.

Model space is what every engine sees: (h, w, 3) float32 in [0, 1], finite, unpremultiplied, in one
of two encodings taken from the bundled config's `stylelock_*` roles:

* `srgb`: the piecewise sRGB curve over Rec.709 primaries. It looks like a normal picture (scene
  linear 0.18 lands near 0.46), which is what image models were trained on.
* `acescct`: ACEScct (log over AP1). It holds scene linear -0.0069..222.9 but looks flat to a model.

Both are a per-channel curve E over a linear space L (Linear Rec.709 / ACEScg). Encoding a frame:

    u  = rgb / alpha                 (unpremultiply where alpha > 1e-6; glow pixels with alpha 0 stay)
    m0 = clip(OCIO(input -> E)(u), 0, 1)          non-finite pixels become 0 and never reach an engine
    l0 = OCIO(E -> L)(m0)                          kept in the state, with the plate and alpha

Decoding the engine's output m (l = OCIO(E -> L)(m)), per channel, in L where the clipping happened
(v = the plate's value in L, kept at encode time for the pixels the encoding clipped):

* channels the encoding carried: d = l - l0, the engine's change;
* highlights clipped at 1: d = (l - l0) - (v - l0) * (1 - w), with w = smoothstep of the engine's
  value m over the top HIGHLIGHT_BAND of the encoding: where the engine leaves the channel at the
  top ("as bright as it gets") the plate's highlight comes back whole; where it paints the channel
  darker the output is what it painted, so the result re-encodes to the engine's own value (a
  highlight scaled by the engine's gain would still read as white: 3000 x 0.2 is far above 1);
* negatives clipped at 0 (colours outside the encoding's gamut): d = (l - l0) + (v - l0) * (G - 1),
  where G = clip(max(l) / max(l0), 0, 1) is the pixel's brightness gain, so the out-of-gamut part
  follows the engine's darkening of the pixel instead of outweighing it;
* out = rgb + alpha * OCIO(L -> input)(d)   (d is mapped through the linear input transform; for a
  non-linear input space through the full round trip on the changed pixels only);
* non-finite plate pixels come back as they were.

An unchanged model gives d == 0 exactly (l and l0 come from the same processor on the same values,
and a clipped channel sits at m == 1, so w == 1), so a passthrough engine returns the plate bit for
bit, not merely within 1e-4, whatever the values (1e-4..1e4, negatives, alpha 0..1) and whichever
encoding. docs/colour.md has the measured numbers.

A plate in a config other than the bundled one is converted with
`OCIO.Config.GetProcessorFromConfigs` through the configs' interchange roles (`aces_interchange` or
`cie_xyz_d65_interchange`); a config without them cannot be used and says so.
"""

from __future__ import annotations

import itertools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import PyOpenColorIO as OCIO

from stylelock.core.colour.config import ResolvedConfig, _first_line, bundled_config, resolve_colorspace
from stylelock.core.errors import ColourError, EngineError
from stylelock.core.jobspec import ENCODINGS

log = logging.getLogger(__name__)

#: Alpha at or below this is treated as 1 for unpremultiplying (glows, holdouts, empty pixels).
ALPHA_EPSILON = 1e-6

#: Width, in model-space code values, of the ramp at the top of the encoding over which a clipped
#: highlight fades from "restored from the plate" (engine value 1) to "as the engine painted it"
#: (two 8-bit code values below). Narrow, so what an engine paints re-encodes to what it painted.
HIGHLIGHT_BAND = 2.0 / 255.0

#: Pixels per OCIO call above which a frame is split across threads (OCIO releases the GIL).
_SPLIT_PIXELS = 1 << 18

#: How display-referred look references (PNG/JPEG) are read: sRGB code values over Rec.709.
_DISPLAY_ROLE = "stylelock_srgb_encoded"


@dataclass
class EncodeState:
    """What `decode` needs to give back what the encoding could not carry. One per frame."""

    shape: tuple[int, int]
    plate: np.ndarray = field(repr=False)
    """(h*w, 3) float32: the premultiplied plate RGB as given (a private copy)."""
    alpha: np.ndarray | None = field(repr=False)
    """(h*w,) float32 divisor used to unpremultiply (1 where alpha <= ALPHA_EPSILON), or None."""
    linear0: np.ndarray = field(repr=False)
    """(h*w, 3) float32: the encoded frame decoded back to the linear space L."""
    clipped_index: np.ndarray = field(repr=False)
    """Flat indices of pixels with a channel the encoding clipped (above 1 or below 0)."""
    clipped_value: np.ndarray = field(repr=False)
    """(n, 3) float32: those pixels' plate values in L."""
    clipped_sign: np.ndarray = field(repr=False)
    """(n, 3) int8: +1 where a channel was clipped at 1, -1 where clipped at 0, else 0."""
    restore_index: np.ndarray = field(repr=False)
    """Flat indices of pixels returned verbatim from the plate (non-finite RGB or overflow)."""
    nonfinite_pixels: int
    """Pixels with NaN or Inf in any RGB channel (the pipeline reports them as a warning)."""
    clipped_pixels: int = 0
    """Pixels with a channel outside what the encoding carries (restored from the plate on decode)."""


class ModelSpaceCodec:
    """Encode plate RGB into one model-space encoding and decode engine output back, per frame.

    Processors are built once per codec; one codec serves every frame of a job and is safe to use
    from several threads (it keeps no per-frame state of its own).
    """

    def __init__(self, config: ResolvedConfig, input_space: str | None = None, encoding: str = "srgb"):
        if encoding not in ENCODINGS:
            raise ColourError(
                f"unknown model-space encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}"
            )
        self.config = config
        self.input_space = resolve_colorspace(config, input_space)
        self.encoding = encoding
        bundled = bundled_config()
        self.encoded_space = _role(bundled, f"stylelock_{encoding}_encoded")
        self.linear_space = _role(bundled, f"stylelock_{encoding}_linear")
        display_space = _role(bundled, _DISPLAY_ROLE)

        to_encoded = _processor(config, self.input_space, bundled, self.encoded_space)
        to_linear = _processor(config, self.input_space, bundled, self.linear_space)
        from_linear = _processor(bundled, self.linear_space, config, self.input_space)
        self._input_is_linear = _is_linear(to_linear)
        self._to_encoded = _cpu(to_encoded)
        self._to_linear = _cpu(to_linear)
        self._from_linear = _cpu(from_linear)
        self._decode_curve = _cpu(bundled.config.getProcessor(self.encoded_space, self.linear_space))
        self._from_display = _cpu(bundled.config.getProcessor(display_space, self.encoded_space))
        self._black_linear = np.zeros((1, 3), np.float32)
        self._decode_curve.applyRGB(self._black_linear)
        log.debug(
            "model space %s: %s (%s) -> %s, input transform %s",
            encoding,
            self.input_space,
            config.name,
            self.encoded_space,
            "linear" if self._input_is_linear else "non-linear",
        )

    def encode(self, rgb: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, EncodeState]:
        """Plate RGB (h, w, 3), premultiplied, in `input_space` -> model (h, w, 3) float32 in [0, 1]."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"encode expects (h, w, 3) RGB, got shape {rgb.shape}")
        height, width = rgb.shape[:2]
        plate = np.array(rgb, dtype=np.float32, order="C", copy=True).reshape(-1, 3)
        finite = _rows_all(np.isfinite(plate))
        nonfinite = int(plate.shape[0] - np.count_nonzero(finite))

        divisor = _alpha_divisor(alpha, (height, width))
        model = plate / divisor[:, None] if divisor is not None else plate.copy()
        if nonfinite:
            model[~finite] = 0.0
        _apply(self._to_encoded, model)
        # Finite pixels can still overflow float32 on the way (values near 3e38): restore those too.
        restore = ~_rows_all(np.isfinite(model))
        restore |= ~finite
        model[restore] = 0.0
        sign = (model > 1.0).astype(np.int8)
        sign -= model < 0.0
        clipped_index = np.flatnonzero(_rows_any(sign != 0))
        np.clip(model, 0.0, 1.0, out=model)
        linear0 = model.copy()
        _apply(self._decode_curve, linear0)

        clipped_value = plate[clipped_index]
        if divisor is not None:
            clipped_value /= divisor[clipped_index, None]
        _apply(self._to_linear, clipped_value)
        # A non-linear input transform can overflow where the encoding did not (a log space's top).
        lost = ~_rows_all(np.isfinite(clipped_value))
        if lost.any():
            restore[clipped_index[lost]] = True
            model[clipped_index[lost]] = 0.0
            linear0[clipped_index[lost]] = self._black_linear
            clipped_index, clipped_value = clipped_index[~lost], clipped_value[~lost]
        state = EncodeState(
            shape=(height, width),
            plate=plate,
            alpha=divisor,
            linear0=linear0,
            clipped_index=clipped_index,
            clipped_value=clipped_value,
            clipped_sign=sign[clipped_index],
            restore_index=np.flatnonzero(restore),
            nonfinite_pixels=nonfinite,
            clipped_pixels=int(clipped_index.size),
        )
        return model.reshape(height, width, 3), state

    def decode(self, model: np.ndarray, state: EncodeState) -> np.ndarray:
        """Engine output (h, w, 3) in model space -> `input_space` RGB, premultiplied again."""
        model = np.asarray(model)
        if model.shape != (*state.shape, 3):
            raise EngineError(f"engine returned a frame of shape {model.shape}, expected {(*state.shape, 3)}")
        linear = np.array(model, dtype=np.float32, order="C", copy=True).reshape(-1, 3)
        bad = int(np.count_nonzero(~np.isfinite(linear)))
        if bad:
            raise EngineError(f"engine returned {bad} non-finite model-space values (NaN or Inf)")
        np.clip(linear, 0.0, 1.0, out=linear)
        _apply(self._decode_curve, linear)

        clipped_delta = (
            _clipped_delta(linear, model.reshape(-1, 3), state) if state.clipped_index.size else None
        )
        delta = linear
        delta -= state.linear0
        if clipped_delta is not None:
            delta[state.clipped_index] = clipped_delta
        delta[state.restore_index] = 0.0

        out = state.plate.copy()
        changed = np.flatnonzero(_rows_any(delta != 0.0))
        if changed.size == 0:
            return out.reshape(*state.shape, 3)
        if self._input_is_linear:
            # d maps through the (offset-free) matrix alone; unchanged pixels map to exactly 0.
            whole = changed.size * 2 > delta.shape[0]
            part = delta if whole else np.ascontiguousarray(delta[changed])
            _apply(self._from_linear, part)
            if state.alpha is not None:
                part *= (state.alpha if whole else state.alpha[changed])[:, None]
            if whole:
                out += part
            else:
                out[changed] += part
        else:
            unpremult = out[changed]
            if state.alpha is not None:
                unpremult /= state.alpha[changed, None]
            target = unpremult.copy()
            _apply(self._to_linear, target)
            target += delta[changed]
            _apply(self._from_linear, target)
            target -= unpremult
            # Where the input transform cannot hold the result, the plate pixel stays as it was.
            target[~_rows_all(np.isfinite(target))] = 0.0
            if state.alpha is not None:
                target *= state.alpha[changed, None]
            out[changed] += target
        return out.reshape(*state.shape, 3)

    def encode_display_image(self, rgb: np.ndarray) -> np.ndarray:
        """A display-referred sRGB picture (a PNG/JPEG look reference) -> model space [0, 1].

        Integer arrays are scaled by their type's maximum; floats are taken as 0..1 code values.
        Its pixels mean what the same code values mean in the `srgb` encoding, so a look reference
        and a plate meet in the same linear light whichever encoding runs.
        """
        image = np.asarray(rgb)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"encode_display_image expects (h, w, 3) RGB, got shape {image.shape}")
        if np.issubdtype(image.dtype, np.integer):
            scaled = image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
        else:
            scaled = np.array(image, dtype=np.float32, order="C", copy=True)
        flat = np.nan_to_num(scaled.reshape(-1, 3), nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(flat, 0.0, 1.0, out=flat)
        _apply(self._from_display, flat)
        np.clip(flat, 0.0, 1.0, out=flat)
        return flat.reshape(image.shape)

    def describe(self) -> dict[str, str]:
        """Colour settings as recorded in output headers and shown by `stylelock info`."""
        return {
            "ocio_config": self.config.name,
            "ocio_config_source": self.config.source,
            "ocio_config_description": self.config.description,
            "input_space": self.input_space,
            "encoding": self.encoding,
            "encoded_space": self.encoded_space,
            "ocio_version": OCIO.__version__,
        }


def _clipped_delta(linear: np.ndarray, model: np.ndarray, state: EncodeState) -> np.ndarray:
    """The change in L for pixels the encoding clipped (see the module docstring)."""
    now = linear[state.clipped_index]
    before = state.linear0[state.clipped_index]
    value = state.clipped_value
    sign = state.clipped_sign
    ramp = np.clip((model[state.clipped_index] - (1.0 - HIGHLIGHT_BAND)) / HIGHLIGHT_BAND, 0.0, 1.0)
    keep = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep: 1 at the top, 0 two code values below
    with np.errstate(divide="ignore", invalid="ignore"):
        peak_before = np.maximum(np.maximum(before[:, 0], before[:, 1]), before[:, 2])
        peak_now = np.maximum(np.maximum(now[:, 0], now[:, 1]), now[:, 2])
        pixel_gain = np.where(peak_before > 0.0, np.clip(peak_now / peak_before, 0.0, 1.0), 1.0)
    delta = now - before
    low = (value - before) * (pixel_gain[:, None] - 1.0)
    low += delta
    delta = np.where(sign < 0, low, delta)
    high = (now - before) - (value - before) * (1.0 - keep)
    return np.where(sign > 0, high, delta).astype(np.float32, copy=False)


def _role(config: ResolvedConfig, role: str) -> str:
    name = config.config.getRoleColorSpace(role)
    colour_space = config.config.getColorSpace(name) if name else None
    if colour_space is None:
        raise ColourError(f"bundled OCIO config {config.name!r} lacks role {role!r}: regenerate it")
    return colour_space.getName()


def _processor(src: ResolvedConfig, src_space: str, dst: ResolvedConfig, dst_space: str) -> OCIO.Processor:
    if src.config.getCacheID() == dst.config.getCacheID():
        return src.config.getProcessor(src_space, dst_space)
    try:
        return OCIO.Config.GetProcessorFromConfigs(src.config, src_space, dst.config, dst_space)
    except Exception as exc:  # OCIO's own Exception types
        raise ColourError(
            f"cannot convert {src_space!r} ({src.name}) to {dst_space!r} ({dst.name}): both configs need "
            f"an 'aces_interchange' or 'cie_xyz_d65_interchange' role ({_first_line(exc)})"
        ) from exc


def _cpu(processor: OCIO.Processor) -> OCIO.CPUProcessor:
    return processor.getOptimizedCPUProcessor(OCIO.OPTIMIZATION_LOSSLESS)


def _is_linear(processor: OCIO.Processor) -> bool:
    """True when the processor is a no-op or offset-free matrices only, so it maps differences."""
    group = processor.getOptimizedProcessor(OCIO.OPTIMIZATION_LOSSLESS).createGroupTransform()
    for transform in group:
        if not isinstance(transform, OCIO.MatrixTransform):
            return False
        if any(transform.getOffset()[:3]):
            return False
    return True


def _rows_all(mask: np.ndarray) -> np.ndarray:
    """Row-wise all() of an (n, 3) bool array; column ANDs beat a reduction over a 3-wide axis."""
    return mask[:, 0] & mask[:, 1] & mask[:, 2]


def _rows_any(mask: np.ndarray) -> np.ndarray:
    return mask[:, 0] | mask[:, 1] | mask[:, 2]


def _alpha_divisor(alpha: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if alpha is None:
        return None
    values = np.asarray(alpha, dtype=np.float32)
    if values.size != shape[0] * shape[1]:
        raise ValueError(f"alpha of shape {values.shape} does not match RGB of {shape}")
    values = values.reshape(-1)
    usable = np.isfinite(values) & (values > ALPHA_EPSILON)
    return np.where(usable, values, np.float32(1.0)).astype(np.float32, copy=False)


def _apply(processor: OCIO.CPUProcessor, pixels: np.ndarray) -> None:
    """Run `processor` in place on C-contiguous (n, 3) float32, split across threads when large."""
    count = pixels.shape[0]
    workers = _workers()
    if count < _SPLIT_PIXELS or workers == 1:
        if count:
            processor.applyRGB(pixels)
        return
    bounds = np.linspace(0, count, workers + 1).astype(int)
    chunks = [pixels[lo:hi] for lo, hi in itertools.pairwise(bounds) if hi > lo]
    list(_pool().map(processor.applyRGB, chunks))


@lru_cache(maxsize=1)
def _workers() -> int:
    """Threads for large OCIO applies: the CPUs this process may run on, at most 8 (asked once, as
    the pool that uses them is made once)."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="stylelock-ocio")
