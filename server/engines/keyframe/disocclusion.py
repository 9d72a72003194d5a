"""What a pass carries into pixels the previous frame did not show.

When an object moves over the background, the strip of background it uncovers has no past of its
own: the flow of those pixels points into the previous frame where the *object* was. Carrying the
pass's state along that flow would hand the uncovered background the object's keyframe position,
its correspondence and its paint (typically the ink outline of its trailing edge); the synthesis
copies that, the next frame keeps it as valid background, and a trail of the object's paint
accumulates behind it (the wake). Three rules keep it out:

- An outline is painted across an object's edge, so part of its ink lies on background pixels,
  which the flow says stay put when the object leaves. With exact motion vectors (an estimated
  flow's uncovered areas are blurred wider than the outline anyway), background within the
  outline's reach (`outline_reach`) of an uncovered strip is re-painted along with the strip
  (`behind_the_edge`), instead of keeping the ink as a line along the object's path.
- Uncovered pixels continue the layer they belong to: each takes the state of a neighbouring
  visible pixel that moves the way it does (its own flow is the background's), offset by the
  distance between them mapped through the layer's local gradient of keyframe coordinates (a layer
  that turned or zoomed since the keyframe continues as it moved), as PatchMatch's propagation
  would; that is where this background was in the keyframe, and the synthesis starts there
  (`fill_from_layer` with ``smooth=True``).
- Their first guess of paint (`uncovered_paint`): where the keyframe showed this background (the
  object passed over it after the keyframe), the artist's own paint there; where the keyframe did
  not show it (the object covered it already), what the artist painted over plate colours like it
  (`PaintPrior`). The keyframe showed it if its plate there has this pixel's colour and, on the
  plate's own vectors, the pass saw that surface go out of view since the keyframe
  (`VanishedSurfaces`): colour alone is not enough, since an object whose plate colours resemble
  the background's (a brown card over brown crates) would hand its own paint to the background it
  uncovers. On an estimated flow, whose occlusion masks are looser, colour alone still decides,
  and that case remains.
"""

from __future__ import annotations

import numpy as np

from stylelock.core.flow import dilate_mask, fill_from_layer, inside_mask

__all__ = [
    "PaintPrior",
    "VanishedSurfaces",
    "behind_the_edge",
    "fill_from_layer",
    "uncovered_paint",
]

#: Mean RGB difference (display-referred) under which the keyframe's plate at an uncovered pixel's
#: layer position shows the same surface: the keyframe saw this background, so its paint is known.
SEEN_LIMIT = 0.05
#: Two neighbouring pixels move as one layer when their flows differ by at most this (pixels).
SAME_LAYER = 0.5


def behind_the_edge(holes: np.ndarray, back: np.ndarray, reach: int) -> np.ndarray:
    """``holes`` (uncovered pixels) grown by ``reach`` pixels over the layer they belong to.

    A pixel joins when it lies within ``reach`` of an uncovered pixel and moves as that pixel's
    nearest uncovered pixel does (``back``: this frame's flow to the previous frame): it is the
    background just behind the strip, where the outline of the object that uncovered it was
    painted. The object itself (it moves differently) never joins, nor does anything grow from
    pixels entering across the frame's edge (a camera move): no object uncovered them."""
    import cv2

    uncovered = holes & inside_mask(back)
    if reach <= 0 or not uncovered.any():
        return holes
    near = dilate_mask(uncovered, reach) & ~holes
    if not near.any():
        return holes
    _, labels = cv2.distanceTransformWithLabels(
        (~uncovered).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    hy, hx = np.nonzero(uncovered)
    flow_of_label = np.zeros((int(labels.max()) + 1, 2), np.float32)
    flow_of_label[labels[hy, hx]] = back[hy, hx]
    ny, nx = np.nonzero(near)
    same = np.abs(back[ny, nx] - flow_of_label[labels[ny, nx]]).max(axis=-1) <= SAME_LAYER
    grown = holes.copy()
    grown[ny[same], nx[same]] = True
    return grown


def uncovered_paint(
    rgb: np.ndarray,
    positions: np.ndarray,
    key_plate: np.ndarray,
    key_style: np.ndarray,
    prior: PaintPrior,
    keyframe_may_show: np.ndarray,
) -> np.ndarray:
    """The first guess of paint of uncovered pixels: (k, S) for ``rgb`` (k, 3) plate colours at
    keyframe ``positions`` (k, 2) (their layer's, see `fill_from_layer`). The keyframe's own paint
    at those positions where the keyframe showed their surface (where ``keyframe_may_show`` it, (k,)
    bool, and its plate shows the same colour there), else ``prior``'s guess."""
    inside = (
        (positions[:, 0] >= 0)
        & (positions[:, 0] <= key_plate.shape[1] - 1)
        & (positions[:, 1] >= 0)
        & (positions[:, 1] <= key_plate.shape[0] - 1)
    )
    same_colour = np.abs(_bilinear(key_plate[..., :3], positions) - rgb[:, :3]).mean(axis=-1) < SEEN_LIMIT
    seen = inside & keyframe_may_show & same_colour
    guess = prior.predict(rgb)
    if seen.any():
        guess[seen] = _bilinear(key_style, positions)[seen]
    return guess


class VanishedSurfaces:
    """The keyframe points whose surface a pass has seen go out of view (behind something that
    moved over it, or out of the frame) since its keyframe.

    Background uncovered now was out of view on the previous frame. If the keyframe showed it, the
    pass saw it go; if the pass never did, the keyframe showed something else at its keyframe
    position: what covers it, whose paint it must not take."""

    def __init__(self, h: int, w: int) -> None:
        self.points = np.zeros((h, w), bool)
        """(h, w) in keyframe coordinates."""

    def record(self, positions: np.ndarray, gone: np.ndarray, unseen: np.ndarray) -> None:
        """Add the keyframe ``positions`` (h, w, 2) of a frame's pixels that the next frame does not
        show (``gone``, (h, w) bool), with their neighbours (a surface that shrank since the
        keyframe leaves gaps between its pixels' positions).

        Pixels showing background the keyframe never saw (``unseen``, (h, w) bool) are left out:
        their positions continue their layer under what covered it in the keyframe, so recording
        them would mark that object's keyframe area as background that went out of view, and the
        next uncovering there would take the object's paint again."""
        import cv2

        h, w = self.points.shape
        x, y, inside = _pixel_of(positions[gone & ~unseen], h, w)
        if not inside.any():
            return
        hit = np.zeros((h, w), np.uint8)
        hit[y[inside], x[inside]] = 1
        self.points |= cv2.dilate(hit, np.ones((3, 3), np.uint8)).astype(bool)

    def went_out_of_view(self, positions: np.ndarray) -> np.ndarray:
        """(k,) bool: whether the surfaces at keyframe ``positions`` (k, 2) went out of view."""
        h, w = self.points.shape
        x, y, inside = _pixel_of(positions, h, w)
        out = np.zeros(len(positions), bool)
        out[inside] = self.points[y[inside], x[inside]]
        return out


def _pixel_of(positions: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nearest pixel (x, y) of (k, 2) positions and whether it lies in an (h, w) image."""
    x = np.rint(positions[:, 0]).astype(np.int64)
    y = np.rint(positions[:, 1]).astype(np.int64)
    return x, y, (x >= 0) & (x < w) & (y >= 0) & (y < h)


def _bilinear(image: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``image`` (h, w, c) sampled bilinearly at (k, 2) positions (x, y), clamped to the image:
    (k, c) float32. (OpenCV's remap limits maps to 32767 entries a side.)"""
    h, w = image.shape[:2]
    x = np.clip(positions[:, 0], 0.0, w - 1.0)
    y = np.clip(positions[:, 1], 0.0, h - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.int64), max(h - 2, 0))
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx = (x - x0).astype(np.float32)[:, None]
    fy = (y - y0).astype(np.float32)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


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
