"""Synthesized paint stays attached to its surface: an atlas of correspondences in keyframe space.

Where the keyframe never saw a surface (background a moving object uncovers, content entering the
frame), its paint is made of patches copied from elsewhere in the keyframe, and the
correspondence field there is a patchwork with seams every few pixels. Carried from frame to frame
on the pixel grid, a seam can only move by whole pixels: a surface drifting by a fraction of a
pixel per frame leaves its seams behind on the grid (at 0.3 px a frame, 3 px behind after ten
frames), each pixel slides across its patch into its neighbour's copy, and the paint of unseen
background keeps changing while the plate hardly does (the long-term flicker of the photo plate's
uncovered wheel).

The pass's keyframe coordinates of each pixel's surface (`positions`, smooth within a layer and
carried with sub-pixel accuracy) do not have that problem. So every pixel whose paint comes from
somewhere other than its own surface point writes its correspondence into an atlas indexed by that
surface point, and reads it back there on the next frames: the seams then sit in surface
coordinates and move with the surface exactly. Pixels painted from their own surface point (what
the keyframe saw) never use it, so the two layers that share keyframe coordinates where one covered
the other (the object, and the background behind it) do not meet in the atlas.
"""

from __future__ import annotations

import numpy as np

#: A pixel's paint counts as copied from elsewhere when its source lies this far (pixels, either
#: axis) from its own surface point in the keyframe.
ELSEWHERE = 2.0


class SurfaceAtlas:
    """Correspondences of synthesized surfaces, stored at their keyframe coordinates."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.source = np.zeros((h, w, 2), np.float32)
        self.known = np.zeros((h, w), bool)
        self.used: np.ndarray | None = None
        """(h, w) bool per pixel of the last frame: paint copied from elsewhere (carried on)."""

    def _cells(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cx = np.rint(positions[..., 0])
        cy = np.rint(positions[..., 1])
        inside = (cx >= 0) & (cx <= self.w - 1) & (cy >= 0) & (cy <= self.h - 1)
        return cx.astype(np.int64).clip(0, self.w - 1), cy.astype(np.int64).clip(0, self.h - 1), inside

    def read(self, positions: np.ndarray, carried: np.ndarray, nearest, holes: np.ndarray) -> np.ndarray:
        """``carried`` with the atlas's correspondence wherever the pixel (followed along the flow
        with ``nearest``) had copied paint and its surface point is in the atlas."""
        if self.used is None:
            return carried
        copied = self.used[nearest] & ~holes
        cx, cy, inside = self._cells(positions)
        take = copied & inside & self.known[cy, cx]
        if not take.any():
            return carried
        offset = positions - np.stack([cx, cy], axis=-1).astype(np.float32)
        out = carried.copy()
        out[take] = self.source[cy[take], cx[take]] + offset[take]
        return out

    def write(self, positions: np.ndarray, field: np.ndarray) -> None:
        """Record this frame's copied paint at its surface points (the last pixel wins a cell)."""
        copied = np.abs(field - positions).max(axis=-1) > ELSEWHERE
        cx, cy, inside = self._cells(positions)
        copied &= inside
        self.used = copied
        if not copied.any():
            return
        flat = (cy * self.w + cx)[copied]
        offset = (positions - np.stack([cx, cy], axis=-1).astype(np.float32))[copied]
        values = field[copied] - offset
        # deterministic: of the pixels sharing a cell, the last in raster order
        _, first_reversed = np.unique(flat[::-1], return_index=True)
        last = len(flat) - 1 - first_reversed
        cells = flat[last]
        self.source.reshape(-1, 2)[cells] = values[last]
        self.known.reshape(-1)[cells] = True
