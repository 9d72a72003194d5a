"""Palettes of model-space images and the drift between them, in CIEDE2000.

A palette is up to ``k`` L*a*b* swatches with weights (the share of pixels each stands for), found by
k-means in L*a*b* on a seeded subsample: the same image and seed give the same palette, bit for bit.

Palette drift of an output against a reference (the locked style or keyframe) is

    drift = sum_i w_i * min_j dE00(ref_i, out_j) / sum_i w_i

over the reference swatches i (weights w_i) and output swatches j: how far, on average, each colour
the reference asks for is from the closest colour the output delivers, weighted by how much of the
reference it covers. It is 0 for identical images and is not symmetric (an output may add colours
the reference lacks without penalty; it is penalised for losing or shifting the reference's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from stylelock.core.errors import SpecError
from stylelock.core.metrics.lab import ciede2000, srgb_to_lab

MAX_SAMPLES = 16384
_MAX_ITERATIONS = 50


@dataclass(frozen=True)
class Palette:
    """Swatches sorted by decreasing weight."""

    colors: np.ndarray
    """(n, 3) float64 L*a*b* (D65), n <= k."""
    weights: np.ndarray
    """(n,) float64, summing to 1."""

    def __iter__(self) -> Iterator[np.ndarray]:
        """Unpack as ``colors, weights = palette``."""
        return iter((self.colors, self.weights))

    def to_dict(self) -> dict[str, list]:
        return {
            "lab": [[round(float(v), 4) for v in c] for c in self.colors],
            "weights": [round(float(w), 6) for w in self.weights],
        }


def _kmeans_pp_init(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centers = [points[int(rng.integers(len(points)))]]
    d2 = np.sum((points - centers[0]) ** 2, axis=1)
    while len(centers) < k:
        total = float(d2.sum())
        if total <= 0.0:
            break  # fewer distinct colours than k: stop at what exists
        centers.append(points[int(rng.choice(len(points), p=d2 / total))])
        d2 = np.minimum(d2, np.sum((points - centers[-1]) ** 2, axis=1))
    return np.array(centers)


def _assign(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    d2 = np.sum((points[:, None, :] - centers[None, :, :]) ** 2, axis=2)
    return np.argmin(d2, axis=1)


def extract_palette(
    image: np.ndarray,
    k: int = 8,
    seed: int = 0,
    *,
    mask: np.ndarray | None = None,
    max_samples: int = MAX_SAMPLES,
) -> Palette:
    """The dominant colours of a model-space image (h, w, 3) in [0, 1], as a `Palette`.

    k-means++ then Lloyd iterations in L*a*b* on at most ``max_samples`` pixels drawn with
    ``seed``; ``mask`` (h, w) bool restricts the pixels (e.g. alpha > 0.5). Fewer than ``k`` swatches
    come back when the image has fewer distinct colours. The returned `Palette` unpacks as
    ``colors, weights = extract_palette(...)``.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise SpecError(f"palette image has shape {arr.shape}; expected (h, w, 3)")
    if k < 1:
        raise SpecError(f"palette size k={k} must be at least 1")
    pixels = arr[..., :3].reshape(-1, 3)
    if mask is not None:
        pixels = pixels[np.asarray(mask, dtype=bool).reshape(-1)]
    pixels = pixels[np.all(np.isfinite(pixels), axis=1)]
    if len(pixels) == 0:
        raise SpecError("palette image has no finite pixels inside its mask")
    rng = np.random.default_rng(seed)
    if len(pixels) > max_samples:
        pixels = pixels[np.sort(rng.choice(len(pixels), size=max_samples, replace=False))]
    points = srgb_to_lab(pixels)

    centers = _kmeans_pp_init(points, k, rng)
    labels = _assign(points, centers)
    for _ in range(_MAX_ITERATIONS):
        counts = np.bincount(labels, minlength=len(centers))
        keep = counts > 0
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, points)
        centers = sums[keep] / counts[keep, None]
        new_labels = _assign(points, centers)
        if len(centers) == len(keep) and np.array_equal(new_labels, labels):
            break
        labels = new_labels
    counts = np.bincount(labels, minlength=len(centers)).astype(np.float64)
    keep = counts > 0
    centers, counts = centers[keep], counts[keep]
    order = np.lexsort((-centers[:, 0], -counts))  # by weight, then lighter first
    return Palette(colors=centers[order], weights=counts[order] / counts.sum())


def palette_drift(reference: Palette, output: Palette) -> float:
    """Weighted mean CIEDE2000 from each reference swatch to its nearest output swatch (see module)."""
    de = ciede2000(reference.colors[:, None, :], output.colors[None, :, :])
    nearest = de.min(axis=1)
    return float(np.sum(reference.weights * nearest) / np.sum(reference.weights))
