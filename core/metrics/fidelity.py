"""How much of the painting an output keeps: colour fidelity at a keyframe and fine texture.

- Keyframe fidelity: the mean per-pixel CIEDE2000 between an output frame and the paint it was
  made from. An engine that carries a painted keyframe should return it at its own frame: 0 is
  the paint exactly, about 1 is the smallest difference a viewer notices side by side (a soft
  blur of a painting with crisp ink and brush texture costs several times that).
- Fine texture: the energy of detail at a 1 px scale, the mean squared difference between L*
  and L* blurred by a Gaussian of ``sigma`` (1) pixel. Its ratio, output frame over keyframe paint,
  says how much brush texture and line crispness survived: a copy keeps 1, a 0.7 px blur of
  pixel-scale texture under a third, resampling at half-pixel offsets part of it
  (`tests/core/test_metrics.py`). It is a whole-frame statistic, so it moves a little as the
  content in frame changes.
"""

from __future__ import annotations

import numpy as np

from stylelock.core.errors import SpecError
from stylelock.core.metrics.lab import ciede2000, srgb_to_lab

#: Gaussian sigma in pixels that separates "fine" texture from the rest.
TEXTURE_SIGMA = 1.0


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float32)[..., :3]
    b = np.asarray(b, dtype=np.float32)[..., :3]
    if a.shape != b.shape or a.ndim != 3:
        raise SpecError(f"images to compare must be (h, w, 3) of one size, not {a.shape} and {b.shape}")
    return a, b


def delta_e_map(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 between two model-space (sRGB-encoded) images, (h, w) float64."""
    a, b = _pair(image, reference)
    return ciede2000(srgb_to_lab(a), srgb_to_lab(b))


def mean_delta_e(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean per-pixel CIEDE2000 of ``image`` against ``reference`` (inside ``mask`` when given)."""
    de = delta_e_map(image, reference)
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        if not keep.any():
            raise SpecError("the fidelity mask selects no pixel")
        de = de[keep]
    return float(de.mean())


def fine_texture_map(image: np.ndarray, sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """Squared high-pass of L* at ``sigma`` pixels, per pixel: (h, w) float32, L* units squared."""
    import cv2

    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise SpecError(f"texture image has shape {arr.shape}; expected (h, w, 3)")
    lum = srgb_to_lab(arr[..., :3])[..., 0].astype(np.float32)
    smooth = cv2.GaussianBlur(lum, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    return np.square(lum - smooth)


#: `fine_texture_energy` (L* units squared) at or below which an image counts as flat: no texture
#: to keep, none to compare with.
FLAT_TEXTURE_ENERGY = 1e-9


def fine_texture_energy(image: np.ndarray, sigma: float = TEXTURE_SIGMA) -> float:
    """Mean squared high-pass of L* at ``sigma`` pixels (L* units squared)."""
    return float(fine_texture_map(image, sigma).astype(np.float64).mean())


def texture_ratio(image: np.ndarray, reference: np.ndarray, sigma: float = TEXTURE_SIGMA) -> float:
    """`fine_texture_energy` of ``image`` over that of ``reference`` (the keyframe's paint)."""
    ref = fine_texture_energy(reference, sigma)
    if ref <= FLAT_TEXTURE_ENERGY:
        raise SpecError("the reference has no fine texture to compare with (a flat image)")
    return fine_texture_energy(image, sigma) / ref


def has_fine_texture(image: np.ndarray, sigma: float = TEXTURE_SIGMA) -> bool:
    """Whether ``image`` has any fine texture to keep (a flat-colour paint has none)."""
    return fine_texture_energy(image, sigma) > FLAT_TEXTURE_ENERGY
