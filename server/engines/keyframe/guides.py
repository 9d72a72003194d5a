"""The guide channels that steer the patch synthesis (Jamriska et al. 2019).

A guide is a pair of images, one on the source side (the keyframe) and one on the target side
(the frame being styled); patches are matched where both agree. Values are in EbSynth's units
(0..255) and each guide's weight is shared among its channels, so EbSynth's weights and its
uniformity of 3500 mean here what they mean there. Channels are multiplied by sqrt(weight) once,
so the kernels compute a plain sum of squared differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylelock.core.flow import LUMA

EDGE_GAIN = 4.0


@dataclass(frozen=True)
class GuideWeights:
    """EbSynth-style weights of the guides (Jamriska et al. 2019's defaults, except the temporal
    weight, raised from 0.5 for steadier carried paint)."""

    colour: float = 6.0
    edges: float = 0.5
    positional: float = 2.0
    temporal: float = 4.0
    """On a pair of frames with the plate's own motion vectors."""
    estimated_temporal: float = 6.0
    """On a pair whose flow is estimated (DIS): see `temporal_on`."""
    style: float = 1.0

    def temporal_on(self, exact_flow: bool) -> float:
        """The temporal guide's weight on a pair of frames. An estimated flow gets more: on the
        bench's three plates without vectors, 6 instead of 4 measured less short-term flicker on all
        three and about the same invented paint; on exact vectors it measured more invented paint
        (the trail of the demo's frames 1025-1048, 2.1 -> 2.5 % of the frame) for a few hundredths
        less flicker."""
        return self.temporal if exact_flow else self.estimated_temporal

    def temporal_mix(self, exact_flow: bool) -> float:
        """The temporal guide's share of the paint channels' target (the style guide has the rest)."""
        temporal = self.temporal_on(exact_flow)
        return temporal / (self.style + temporal) if self.style + temporal > 0 else 0.0


def luma(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., :3] @ LUMA, dtype=np.float32)


def edges(lum: np.ndarray) -> np.ndarray:
    """A difference of Gaussians of luma around mid grey: signed edges, blurred a little so the
    guide is tolerant of a pixel of misregistration."""
    import cv2

    fine = cv2.GaussianBlur(lum, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
    coarse = cv2.GaussianBlur(lum, (0, 0), 2.5, borderType=cv2.BORDER_REPLICATE)
    return np.clip(0.5 + EDGE_GAIN * (fine - coarse), 0.0, 1.0).astype(np.float32)


def coords(h: int, w: int) -> np.ndarray:
    """(h, w, 2) float32 pixel coordinates (x, y): the keyframe's own positional guide."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.ascontiguousarray(np.stack([xs, ys], axis=-1))


def channel_scale(weight: float, channels: int) -> float:
    """The factor each of a guide's ``channels`` is multiplied by, so a plain sum of squared
    differences weighs the whole guide by ``weight`` in EbSynth's 0..255 units."""
    return 255.0 * float(np.sqrt(max(weight, 0.0) / channels))


def _weighted(parts: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Stack (h, w, n) planes with values in [0, 1], each guide's weight spread over its channels."""
    out = []
    for plane, weight in parts:
        plane = plane if plane.ndim == 3 else plane[..., None]
        scale = channel_scale(weight, plane.shape[2])
        out.append(plane.astype(np.float32) * np.float32(scale))
    return np.ascontiguousarray(np.concatenate(out, axis=2))


def plate_guides(
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    positions: np.ndarray,
    norm: float,
    weights: GuideWeights,
    use_alpha: bool,
) -> np.ndarray:
    """Colour (RGB, plus alpha when the keyframe's plate has one), edges and positional guides.

    ``positions`` are keyframe pixel coordinates (identity on the keyframe, flow-advected on other
    frames); ``norm`` (the larger plate side) maps them to [0, 1] like a coordinate-gradient image.
    """
    colour = rgb[..., :3]
    if use_alpha:
        a = alpha if alpha is not None else np.ones(rgb.shape[:2], np.float32)
        colour = np.concatenate([colour, a[..., None]], axis=2)
    return _weighted(
        [
            (colour, weights.colour),
            (edges(luma(rgb)), weights.edges),
            (positions / np.float32(norm), weights.positional),
        ]
    )


def look_guides(lum: np.ndarray, weights: GuideWeights) -> np.ndarray:
    """Luminance and edges: the guides that transfer a look image onto a plate frame."""
    return _weighted([(lum, weights.colour), (edges(lum), weights.edges)])


def match_luminance(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Remap ``source`` luma to the mean and spread of ``target`` (Hertzmann et al. 2001), so a
    dark painting can still be matched against a bright plate."""
    s_mean, s_std = float(source.mean()), float(source.std())
    t_mean, t_std = float(target.mean()), float(target.std())
    scale = t_std / s_std if s_std > 1e-6 else 1.0
    return np.clip((source - s_mean) * scale + t_mean, 0.0, 1.0).astype(np.float32)


def resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """Area-average resize of an (h, w) or (h, w, c) float32 image (any channel count: OpenCV's
    general path takes at most 4 channels, so wider images go 4 channels at a time)."""
    import cv2

    if a.shape[1] == w and a.shape[0] == h:
        return a
    interp = cv2.INTER_AREA if w < a.shape[1] else cv2.INTER_LINEAR
    if a.ndim == 2:
        return np.ascontiguousarray(cv2.resize(a, (w, h), interpolation=interp), dtype=np.float32)
    parts = []
    for c in range(0, a.shape[2], 4):
        part = cv2.resize(np.ascontiguousarray(a[..., c : c + 4]), (w, h), interpolation=interp)
        parts.append(part if part.ndim == 3 else part[..., None])
    return np.ascontiguousarray(np.concatenate(parts, axis=2), dtype=np.float32)


def level_size(w: int, h: int, level: int) -> tuple[int, int]:
    f = 2**level
    return max(1, round(w / f)), max(1, round(h / f))


def max_levels(sizes: list[tuple[int, int]], patch: int) -> int:
    """How many pyramid levels keep every image at least 2 * patch + 1 pixels on its short side."""
    levels = 1
    while all(min(level_size(w, h, levels)) >= 2 * patch + 1 for w, h in sizes):
        levels += 1
    return levels
