"""Synthesized paint stays attached to its surface: an atlas of correspondences in keyframe space.

Where the keyframe never saw a surface (background a moving object uncovers), its paint is made
of patches copied from elsewhere in the keyframe, and the
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
the keyframe saw) never use it, so the object and the background it covered in the keyframe,
which share keyframe coordinates there, do not meet in the atlas as long as only one of them has
copied paint.

Content a camera move brings into the frame lies beyond the keyframe, and so do its surface
points (`fill_from_layer` continues the keyframe coordinates of its layer past the keyframe's
edges), so the atlas reaches `MARGIN` of the keyframe's size beyond each side (on the photo plate,
whose pan and push-in bring in about a tenth of the frame over the shot, these cells took the
long-term ratio from 1.88 to 1.74, and the error of the content entering from 20 to 6 times the
plate's own there). Content from further out is carried on the pixel grid, and so is all content
beyond the keyframe on an estimated flow (its continued coordinates are only as good as the
estimate's; on the photo plate without vectors the margin measured more short-term flicker,
1.19 -> 1.22 low-passed). Beyond the keyframe
every layer's paint is copied, so two layers entering across the same edge at once (an object
and the background behind it) could meet in the same cells if their continued coordinates
overlap; the last writer of a cell wins there.
"""

from __future__ import annotations

import numpy as np

#: A pixel's paint counts as copied from elsewhere when its source lies this far (pixels, either
#: axis) from its own surface point in the keyframe.
ELSEWHERE = 2.0
#: How far beyond each side of the keyframe the atlas reaches, as a share of its width and height
#: (1.5 x 1.5 times the keyframe's cells, 9 bytes each: 13 MB for a 1056 x 594 keyframe, 168 MB for
#: 3840 x 2160, per pass).
MARGIN = 0.25


def copied_from_elsewhere(field: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels whose paint comes from further than `ELSEWHERE` from their own surface
    point (``field``: where each pixel's paint comes from; ``positions``: its keyframe coordinates)."""
    return np.abs(field - positions).max(axis=-1) > ELSEWHERE


class SurfaceAtlas:
    """Correspondences of synthesized surfaces, stored at their keyframe coordinates."""

    def __init__(self, h: int, w: int, margin: float = MARGIN) -> None:
        if margin < 0:
            raise ValueError(f"atlas margin must be at least 0, not {margin}")
        # cells beyond the keyframe's left and top edges (as many again beyond the right and bottom)
        self.left, self.top = round(margin * w), round(margin * h)
        # the atlas's own size: the keyframe's and its margins
        self.h, self.w = h + 2 * self.top, w + 2 * self.left
        self.source = np.zeros((self.h, self.w, 2), np.float32)
        self.known = np.zeros((self.h, self.w), bool)
        self.used: np.ndarray | None = None
        """(h, w) bool per pixel of the last frame: paint copied from elsewhere (carried on)."""

    def _cells(self, points: np.ndarray, beyond: bool) -> tuple[np.ndarray, np.ndarray]:
        """(n,) flat atlas cell of each of ``points`` (n, 2) keyframe positions, and whether the
        point has a cell (lies on the keyframe, or within the margin around it when ``beyond``)."""
        cell = np.rint(points) + np.array([self.left, self.top], np.float32)
        x0, y0 = (0, 0) if beyond else (self.left, self.top)
        inside = (
            (cell[:, 0] >= x0)
            & (cell[:, 1] >= y0)
            & (cell[:, 0] <= self.w - 1 - x0)
            & (cell[:, 1] <= self.h - 1 - y0)
        )
        cx = cell[:, 0].clip(0, self.w - 1).astype(np.int64)
        cy = cell[:, 1].clip(0, self.h - 1).astype(np.int64)
        return cy * self.w + cx, inside

    def read(
        self, positions: np.ndarray, carried: np.ndarray, nearest, holes: np.ndarray, *, beyond: bool = True
    ) -> np.ndarray:
        """``carried`` with the atlas's correspondence wherever the pixel (followed along the flow
        with ``nearest``) had copied paint and its surface point is in the atlas (``beyond``: the
        margin's cells count too)."""
        if self.used is None or not self.used.any():
            return carried
        pixels = np.flatnonzero(self.used[nearest] & ~holes)
        points = positions.reshape(-1, 2)[pixels]
        cells, inside = self._cells(points, beyond)
        take = inside & self.known.reshape(-1)[cells]
        if not take.any():
            return carried
        out = carried.copy()
        offset = points[take] - np.rint(points[take])
        out.reshape(-1, 2)[pixels[take]] = self.source.reshape(-1, 2)[cells[take]] + offset
        return out

    def write(self, positions: np.ndarray, field: np.ndarray, *, beyond: bool = True) -> None:
        """Record this frame's copied paint at its surface points (the last pixel wins a cell;
        ``beyond``: in the margin's cells too)."""
        copied = copied_from_elsewhere(field, positions)
        pixels = np.flatnonzero(copied)
        points = positions.reshape(-1, 2)[pixels]
        cells, inside = self._cells(points, beyond)
        copied.reshape(-1)[pixels[~inside]] = False
        self.used = copied
        if not inside.any():
            return
        flat = cells[inside]
        values = field.reshape(-1, 2)[pixels[inside]] - (points[inside] - np.rint(points[inside]))
        # deterministic: of the pixels sharing a cell, the last in raster order
        _, first_reversed = np.unique(flat[::-1], return_index=True)
        last = len(flat) - 1 - first_reversed
        cells = flat[last]
        self.source.reshape(-1, 2)[cells] = values[last]
        self.known.reshape(-1)[cells] = True
