"""What a pass carries into pixels the previous frame did not show.

When an object moves over the background, the strip of background it uncovers has no past of its
own: the flow of those pixels points into the previous frame where the *object* was. Carrying the
pass's state along that flow would hand the uncovered background the object's keyframe position,
its correspondence and its paint (typically the ink outline of its trailing edge); the synthesis
copies that, the next frame keeps it as valid background, and a trail of the object's paint
accumulates behind it. Instead, uncovered pixels continue the layer they belong to: each takes the
state of a neighbouring visible pixel that moves the way it does (its own flow is the background's),
offset by the distance between them, as PatchMatch's propagation would, and the synthesis's first
guess of their paint is what the artist painted over plate colours like theirs (`PaintPrior`).
"""

from __future__ import annotations

import numpy as np

from stylelock.core.flow import fill_from_layer

__all__ = ["PaintPrior", "fill_from_layer"]

#: Nodes per axis of the plate-colour -> paint table.
PRIOR_NODES = 17
#: Keyframe pixels further than this from mid grey in the edge guide sit on a plate edge; their
#: paint (outlines, ink) says what the artist does at edges, not what a colour looks like.
FLAT_EDGE_LIMIT = 0.04


class PaintPrior:
    """What the artist painted, on average, over each plate colour of the keyframe.

    An uncovered pixel has no past, so the synthesis needs another first guess of its paint than
    the previous output (which shows the object that was there). The keyframe answers it: the
    mean paint over keyframe pixels of about the same plate colour, away from plate edges (where
    the paint is outline, not fill). A 3D table over display-referred RGB with trilinear
    splatting; cells no keyframe pixel reaches borrow from their neighbours (normalized
    convolution)."""

    def __init__(self, plate_rgb: np.ndarray, style: np.ndarray, edge_guide: np.ndarray) -> None:
        n = PRIOR_NODES
        flat = np.abs(edge_guide - 0.5) <= FLAT_EDGE_LIMIT
        if flat.sum() < 64:
            flat = np.ones_like(flat)
        rgb = np.clip(plate_rgb[..., :3][flat], 0.0, 1.0) * (n - 1)
        paint = style[flat].astype(np.float64)
        ns = style.shape[2]
        cells = n**3
        acc = np.zeros((cells, ns), np.float64)
        weight = np.zeros(cells, np.float64)
        base = np.minimum(np.floor(rgb).astype(np.int64), n - 2)
        frac = rgb - base
        for corner in range(8):
            bits = np.array([(corner >> k) & 1 for k in range(3)])
            wgt = np.prod(np.where(bits[None, :] == 1, frac, 1.0 - frac), axis=1)
            idx = base + bits[None, :]
            cell = (idx[:, 0] * n + idx[:, 1]) * n + idx[:, 2]
            weight += np.bincount(cell, wgt, minlength=cells)
            for c in range(ns):
                acc[:, c] += np.bincount(cell, wgt * paint[:, c], minlength=cells)
        acc = acc.reshape(n, n, n, ns)
        weight = weight.reshape(n, n, n)
        # cells without data borrow from their neighbours: blur value-times-weight and weight alike
        blur_acc, blur_w = _blur3(acc), _blur3(weight[..., None])[..., 0]
        for _ in range(n):
            if (blur_w > 1e-9).all():
                break
            blur_acc, blur_w = _blur3(blur_acc), _blur3(blur_w[..., None])[..., 0]
        own = (weight > 1e-3)[..., None]
        measured = acc / np.maximum(weight, 1e-12)[..., None]
        borrowed = blur_acc / np.maximum(blur_w, 1e-12)[..., None]
        self.table = np.where(own, measured, borrowed).astype(np.float32)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """The prior paint of (k, 3) display-referred colours: (k, S) float32."""
        n = PRIOR_NODES
        pos = np.clip(rgb[..., :3], 0.0, 1.0) * (n - 1)
        base = np.minimum(np.floor(pos).astype(np.int64), n - 2)
        frac = (pos - base).astype(np.float32)
        out = np.zeros((*rgb.shape[:-1], self.table.shape[-1]), np.float32)
        for corner in range(8):
            bits = np.array([(corner >> k) & 1 for k in range(3)])
            wgt = np.prod(np.where(bits == 1, frac, 1.0 - frac), axis=-1)
            idx = base + bits
            out += wgt[..., None] * self.table[idx[..., 0], idx[..., 1], idx[..., 2]]
        return out


def _blur3(a: np.ndarray) -> np.ndarray:
    """A [1, 2, 1] / 4 blur along each of the first three axes (edges replicated)."""
    out = a
    for axis in range(3):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (1, 1)
        p = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        out = 0.25 * p.take(range(0, n), axis) + 0.5 * out + 0.25 * p.take(range(2, n + 2), axis)
    return out
