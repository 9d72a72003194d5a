"""A deterministic paint-over filter: the stand-in for an artist's painted keyframe in `stylelock demo`.

`paint_keyframe` turns a display-referred frame into a bold, graphic painting while keeping every
shape where it was, so example-based propagation has a real style to carry and a structure to
follow. Four documented stages, each scaled to the image size:

1. Flatten: two passes of a Kuwahara filter (each pixel takes the mean of the least varied of its
   four neighbouring quadrants), which removes texture and keeps edges sharp.
2. Posterise: a deterministic k-means palette of a few colours (initialised from luminance
   quantiles, no randomness), made bolder (saturation and contrast up), assigned per pixel and
   cleaned of specks with a median filter.
3. Ink: dark outlines where the flattened image has strong colour or luminance edges.
4. Brush: a stroke texture of fixed noise smeared along the local edge direction (structure
   tensor), modulating brightness by a few percent.

Everything runs on numpy and OpenCV on the CPU; the same input gives the same bytes.
"""

from __future__ import annotations

import numpy as np

from stylelock.core.errors import SpecError
from stylelock.core.flow import LUMA

__all__ = ["paint_keyframe"]


def paint_keyframe(rgb_model: np.ndarray, *, colours: int = 10, seed: int = 1001) -> np.ndarray:
    """Return a painted version of `rgb_model` (float32 (h, w, 3) in [0, 1], display-referred).

    `colours` is the palette size (2-16); `seed` fixes the brush texture. Raises `SpecError` for an
    image of the wrong shape, smaller than 16x16, or holding NaN/Inf.
    """
    import cv2

    image = np.asarray(rgb_model)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 16:
        raise SpecError(f"paint_keyframe needs an (h, w, 3) image of at least 16x16, got shape {image.shape}")
    if not 2 <= colours <= 16:
        raise SpecError(f"paint_keyframe colours={colours} must be between 2 and 16")
    if not np.isfinite(image).all():
        raise SpecError("paint_keyframe input holds NaN or Inf values")
    image = np.clip(image.astype(np.float32), 0.0, 1.0)
    h, w = image.shape[:2]
    scale = min(h, w) / 270.0  # parameters below are tuned at 270 lines and scale with the image
    radius = max(2, round(3 * scale))

    flat = _kuwahara(_kuwahara(image, radius), radius)
    palette, labels = _palette(flat, colours)
    labels = cv2.medianBlur(labels.astype(np.uint8), 2 * max(1, round(2 * scale)) + 1)
    poster = palette[labels]
    poster = cv2.GaussianBlur(poster, (0, 0), 0.6 * max(1.0, scale))  # antialias region borders

    ink = _ink(flat, scale)
    strokes = _brush(flat, scale, seed)
    painted = poster * (1.0 + 0.09 * strokes)[..., None] * (1.0 - 0.88 * ink)[..., None]
    return np.ascontiguousarray(np.clip(painted, 0.0, 1.0), dtype=np.float32)


def _kuwahara(image: np.ndarray, radius: int) -> np.ndarray:
    """Classic Kuwahara filter: the mean of the quadrant (of side radius+1) with least luminance variance."""
    import cv2

    side = radius + 1
    pad = cv2.copyMakeBorder(image, radius, radius, radius, radius, cv2.BORDER_REFLECT)
    lum = pad @ LUMA
    # boxFilter with anchor (0, 0): entry [y, x] is the mean of the box whose top-left corner is (y, x).
    mean = cv2.boxFilter(pad, -1, (side, side), anchor=(0, 0), borderType=cv2.BORDER_REFLECT)
    lmean = cv2.boxFilter(lum, -1, (side, side), anchor=(0, 0), borderType=cv2.BORDER_REFLECT)
    lsq = cv2.boxFilter(lum * lum, -1, (side, side), anchor=(0, 0), borderType=cv2.BORDER_REFLECT)
    h, w = image.shape[:2]
    offsets = [(0, 0), (0, radius), (radius, 0), (radius, radius)]  # quadrants' top-left corners
    variances = np.stack(
        [lsq[oy : oy + h, ox : ox + w] - lmean[oy : oy + h, ox : ox + w] ** 2 for oy, ox in offsets]
    )
    means = np.stack([mean[oy : oy + h, ox : ox + w] for oy, ox in offsets])
    best = np.argmin(variances, axis=0)
    return np.take_along_axis(means, best[None, ..., None], axis=0)[0]


def _palette(image: np.ndarray, colours: int) -> tuple[np.ndarray, np.ndarray]:
    """A bold palette by deterministic k-means; returns (palette (k, 3) by rising luminance, labels (h, w)).

    Clustering runs in Lab with chroma counted double, so a small area of a distinct hue (a red
    board, a yellow leaf) keeps its own colour instead of merging into a big grey; the centres start
    from a farthest-point pick (the most common colour first), so no randomness is involved.
    """
    import cv2

    weight = np.array([1.0, 2.0, 2.0], np.float32)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2Lab) * weight
    flat = lab.reshape(-1, 3)
    step = max(1, flat.shape[0] // 20000)
    sample = flat[::step]
    centres = [np.median(sample, axis=0)]
    distance = ((sample - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, colours):
        centres.append(sample[int(np.argmax(distance))])
        distance = np.minimum(distance, ((sample - centres[-1]) ** 2).sum(axis=1))
    centres_arr = np.array(centres, np.float32)
    for _ in range(12):
        nearest = _nearest(sample, centres_arr)
        for k in range(colours):
            members = sample[nearest == k]
            if len(members):
                centres_arr[k] = members.mean(axis=0)
    centres_arr = centres_arr[np.argsort(centres_arr[:, 0], kind="stable")]
    labels = _nearest(flat, centres_arr).reshape(image.shape[:2])
    # Bolder: spread lightness around its middle and push chroma out.
    plain = centres_arr / weight
    bold = plain.copy()
    bold[:, 0] = np.clip(50.0 + (plain[:, 0] - 50.0) * 1.2, 0.0, 100.0)
    bold[:, 1:] = plain[:, 1:] * 1.5
    rgb = cv2.cvtColor(bold[None].astype(np.float32), cv2.COLOR_Lab2RGB)[0]
    return np.clip(rgb, 0.0, 1.0).astype(np.float32), labels


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
    return np.argmin(d, axis=1)


def _ink(flat: np.ndarray, scale: float) -> np.ndarray:
    """Outline strength in [0, 1] from colour and luminance edges of the flattened image."""
    import cv2

    lab = cv2.cvtColor(flat, cv2.COLOR_RGB2Lab)
    lab = cv2.GaussianBlur(lab, (0, 0), 0.8 * max(1.0, scale))
    gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt((gx * gx + gy * gy).sum(axis=-1))
    level = max(float(np.percentile(magnitude, 90)), 1e-3)
    ink = np.clip((magnitude / level - 0.5) / 0.7, 0.0, 1.0)
    return ink * ink * (3.0 - 2.0 * ink)


def _brush(flat: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Zero-mean, unit-spread stroke texture: fixed noise smeared along the local edge direction."""
    import cv2

    h, w = flat.shape[:2]
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.7 * max(1.0, scale))
    lum = flat @ LUMA
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)
    sigma = 4.0 * max(1.0, scale)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), sigma)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), sigma)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), sigma)
    # Direction of least change (the edge tangent), in [0, pi).
    tangent = (0.5 * np.arctan2(2.0 * jxy, jxx - jyy) + np.pi / 2.0) % np.pi
    length = 2 * round(5 * max(1.0, scale)) + 1
    bins = 8
    smeared = np.stack([cv2.filter2D(noise, -1, _line_kernel(length, np.pi * b / bins)) for b in range(bins)])
    index = np.round(tangent / (np.pi / bins)).astype(np.int64) % bins
    strokes = np.take_along_axis(smeared, index[None], axis=0)[0]
    return (strokes - strokes.mean()) / max(float(strokes.std()), 1e-6)


def _line_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised one-pixel-wide line of `length` at `angle` (radians, image x right, y down)."""
    import cv2

    kernel = np.zeros((length, length), np.float32)
    c = length // 2
    dx, dy = np.cos(angle) * c, np.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    return kernel / kernel.sum()
