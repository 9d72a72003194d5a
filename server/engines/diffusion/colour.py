"""Colour lock: pin every output frame's palette to the style reference's.

Diffusion drifts in colour from frame to frame (and away from the reference) even where the structure
holds. The lock matches each output's per-channel mean and spread in CIELAB to a target measured once
per shot: the style reference's (or, without one, the first output frame of the chain, see
`segments`). Every frame is pulled to
the same target, so a global colour flicker cannot survive it. Pure numpy and OpenCV.
"""

from __future__ import annotations

import numpy as np

_MIN_STD = 1e-3


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32), cv2.COLOR_RGB2Lab)


def _rgb(lab: np.ndarray) -> np.ndarray:
    import cv2

    return np.clip(cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB), 0.0, 1.0)


def lab_stats(rgb: np.ndarray, alpha: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel Lab mean and standard deviation, weighted by `alpha` when given."""
    return _stats(_lab(rgb), alpha)


def _stats(lab: np.ndarray, alpha: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    lab = lab.reshape(-1, 3).astype(np.float64)
    if alpha is not None and alpha.size * 1 == lab.shape[0] and float(alpha.sum()) > 1.0:
        w = np.clip(alpha.reshape(-1, 1).astype(np.float64), 0.0, 1.0)
        mean = (lab * w).sum(0) / w.sum()
        std = np.sqrt(((lab - mean) ** 2 * w).sum(0) / w.sum())
    else:
        mean, std = lab.mean(0), lab.std(0)
    return mean, np.maximum(std, _MIN_STD)


class ColourLock:
    """Applies the lock; the target is fixed by the reference or by the first frame it sees."""

    def __init__(self, reference: np.ndarray | None, alpha: np.ndarray | None = None, strength: float = 1.0):
        self.strength = float(strength)
        self.fixed = reference is not None
        """True when the target is the reference's; False when the first frame seen sets it."""
        self.target = lab_stats(reference, alpha) if reference is not None else None

    def reset(self) -> None:
        """Without a reference, let the next frame seen set the target again (a new chain)."""
        if not self.fixed:
            self.target = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        if self.strength <= 0.0:
            return rgb
        if self.target is None:
            self.target = lab_stats(rgb)
            return rgb
        lab = _lab(rgb)
        mean, std = _stats(lab)
        t_mean, t_std = self.target
        matched = (lab - mean) * (t_std / std) + t_mean
        locked = lab + self.strength * (matched - lab)
        return _rgb(locked.astype(np.float32)).astype(np.float32)
