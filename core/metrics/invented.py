"""Invented structure: paint an output shows that neither the plate's motion nor a keyframe explains.

A restyle carried from painted keyframes has two honest sources for the paint at a pixel: the
paint of the same surface in a keyframe, brought here by the plate's motion, or (for what no
keyframe saw) what the artist painted over plate like this elsewhere. A wake behind a moving
object (its outline's ink and colour smeared into the background it uncovers), paint dragged
along the wrong motion, or an object's paint left where it was: each is paint with neither
source, and the warp-error ratio cannot see it, because once drawn such paint moves with the
background as steadily as anything else.

The measure follows every pixel's surface back to the keyframe before it, in the plate's own
motion (the flow QC measures with), and asks whether the paint is that surface's paint:

1. **Where the surface was in the keyframe.** Keyframe coordinates are carried along the plate's
   motion frame by frame (`stylelock.core.flow.carry_positions`). A pixel the previous frame did
   not show (background a moving object uncovers) has no motion of its own to follow back: it
   continues its layer (`stylelock.core.flow.fill_from_layer`: the position of a neighbouring
   visible pixel that moves as it does, offset by their distance), which is where that background
   was in the keyframe, hidden or not.
2. **Whether the keyframe saw it.** The keyframe saw the surface there when the plate (a 2 px
   Gaussian, L*a*b*) matches within ``PLATE_TOLERANCE`` ΔE and the spot is not within
   ``EDGE_REACH`` pixels of a motion boundary, in the keyframe or here: along an object's edge the
   paint is its outline, which belongs to the object, not to the background it was painted over.
3. **Whether the paint is that surface's paint.** Where the keyframe saw it, the output (2 px
   Gaussian, so brush texture resynthesized or resampled does not count) must be within
   ``PAINT_TOLERANCE`` ΔE of the keyframe's paint there. Paint that is not, at a pixel uncovered
   since the keyframe (the only pixels whose paint the motion alone cannot bring), is invented,
   unless another keyframe explains it (several keyframes: some pixel of another keyframe matches
   plate and paint here, in `descriptor` space, found by an exact nearest-neighbour search in a k-d tree).
4. **Surfaces the keyframe did not see** (uncovered since the keyframe, at a spot where the
   keyframe's plate shows something else: background that was hidden, or a surface seen through a
   translucent layer whose plate changes as it moves) could be painted many ways; their paint is
   invented unless some pixel of any keyframe matches plate and paint here in `joint_descriptor`
   space: colour and fine structure of both, and the colour of both around it (a Gaussian of
   `CONTEXT_SIGMA`, so the keyframe's thin outlines over sky do not explain a band of ink over sky
   as wide as a wake).

The frame's figure is the share of the frame covered by invented structure a viewer can see: the
mask smoothed by a Gaussian of ``VISIBLE_SIGMA`` and kept where at least ``VISIBLE_DENSITY`` of the
neighbourhood is invented (a hatched band counts whole; stray pixels do not). Frames before the
first keyframe, or after a break in the motion (non-consecutive frames), are not measured (None).
At a keyframe, the output is compared with its own paint.

The same tracking measures **carried fine texture**: on the surfaces the keyframe saw (step 2's
pixels), the output's fine-texture energy (`stylelock.core.metrics.fidelity.fine_texture_map`,
pooled by a Gaussian of ``TEXTURE_POOL_SIGMA``) over the keyframe paint's at the same surface.
Unlike the whole-frame ratio it is not moved by textured content leaving or entering the frame:
a copy carried along the motion keeps 1 however much of the frame changes, a 0.7 px blur keeps
under half (`tests/core/test_invented.py`). Energy, not the paint itself, is what is brought
along the motion, so bilinear sampling of the smooth pooled map costs the keyframe nothing. Beside
it, the same ratio of the **carried paint**: the keyframe's paint itself brought to the frame along
those positions with one Lanczos resampling, no synthesis. It says what the motion alone leaves of
the texture: where the plate magnifies a surface (a push-in) its brushwork is spread over more
pixels and keeps less detail per pixel, and a move by a fraction of a pixel costs the finest
detail a little, however the paint is carried.

What it does not judge: pixels the motion alone brings from the keyframe (not uncovered since);
pixels within ``EDGE_REACH`` of a motion boundary here (an object's outline); surfaces whose
keyframe position lies outside the keyframe (content a camera move brings into frame); and an
outline left exactly where it was painted, whose paint the keyframe did put there (the warp error
sees it when the plate moves). `uncovered_fraction` says how much of each frame had to be judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stylelock.core.errors import SpecError
from stylelock.core.metrics.lab import srgb_to_lab

#: ΔE (CIE76, 2 px Gaussian) within which the keyframe's plate is the plate here: the same surface.
PLATE_TOLERANCE = 8.0
#: ΔE (CIE76, 2 px Gaussian) within which the paint here is the keyframe's paint of the surface.
PAINT_TOLERANCE = 15.0
#: Gaussian sigma (px) both comparisons are made at: brush texture finer than this does not count.
COMPARE_SIGMA = 2.0
#: Pixels within this reach of a motion boundary carry an object's outline; they are not judged.
EDGE_REACH = 4
#: Visible structure: the invented mask smoothed by VISIBLE_SIGMA px, kept at >= VISIBLE_DENSITY.
VISIBLE_SIGMA = 2.0
VISIBLE_DENSITY = 0.3
#: Tolerances of the other keyframes' explanation, in `descriptor` distance (L* units).
SEARCH_PLATE_TOLERANCE = 30.0
SEARCH_PAINT_TOLERANCE = 10.0
#: Gaussian sigma (px) of the neighbourhood colour in the `descriptor`: an outline is not a filled area.
CONTEXT_SIGMA = 5.0
#: Gaussian sigma (px) pooling the per-pixel fine-texture energy before it is compared.
TEXTURE_POOL_SIGMA = 3.0
#: How far (px) pooling carries an outline's texture energy: kept off motion boundaries by that much more.
POOL_REACH = int(np.ceil(2 * TEXTURE_POOL_SIGMA))
#: Fewest carried surfaces (share of the frame) the carried-texture ratio is measured on.
MIN_CARRIED_SHARE = 0.01
#: Scale of the log compression of the descriptor's jet (L* units).
JET_COMPRESSION = 4.0


def compare_lab(image: np.ndarray) -> np.ndarray:
    """L*a*b* of a model-space image after a Gaussian of `COMPARE_SIGMA` px, (h, w, 3) float32."""
    import cv2

    smooth = cv2.GaussianBlur(
        np.ascontiguousarray(image, dtype=np.float32)[..., :3],
        (0, 0),
        COMPARE_SIGMA,
        borderType=cv2.BORDER_REPLICATE,
    )
    return srgb_to_lab(smooth).astype(np.float32)


def _jet(lum: np.ndarray, sigma: float) -> list[np.ndarray]:
    """Rotation-invariant second-order jet of ``lum`` at ``sigma``, scale-normalised (L* units)."""
    import cv2

    g = cv2.GaussianBlur(lum, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
    gxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3, borderType=cv2.BORDER_REPLICATE) / 4.0
    gyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3, borderType=cv2.BORDER_REPLICATE) / 4.0
    gxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) / 4.0
    grad = sigma * np.sqrt(gx * gx + gy * gy)
    lap = sigma * sigma * (gxx + gyy)
    ridge = sigma * sigma * np.sqrt((gxx - gyy) ** 2 + 4.0 * gxy * gxy)
    return [grad, lap, ridge]


def descriptor(image: np.ndarray) -> np.ndarray:
    """(h, w, 12) float32: L* (1 px Gaussian), a rotation-invariant jet of L* at 1 and 2.5 px
    (gradient magnitude, Laplacian, ridge strength; log-compressed, so a softened line is near the
    crisp one and a line is far from none), a*, b* (1.5 px Gaussian) and the neighbourhood's
    L*a*b* (a Gaussian of `CONTEXT_SIGMA` px).

    The neighbourhood is what tells an outline from a filled area: a pixel of a thin ink line over
    sky is surrounded by sky-coloured paint, a pixel of a band of ink as wide as a wake, or of a
    cell filled with ink, is surrounded by ink. Without it, an exact search finds every dark-over-sky
    pixel of a wake explained by the keyframe's own outlines."""
    import cv2

    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise SpecError(f"image has shape {arr.shape}; expected (h, w, 3)")
    lab = srgb_to_lab(arr[..., :3]).astype(np.float32)
    lum = cv2.GaussianBlur(lab[..., 0], (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
    parts = [cv2.GaussianBlur(lum, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)]
    c = JET_COMPRESSION
    parts += [np.sign(j) * c * np.log1p(np.abs(j) / c) for j in (*_jet(lum, 1.0), *_jet(lum, 2.5))]
    for ch in (1, 2):
        parts.append(cv2.GaussianBlur(lab[..., ch], (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE))
    context = cv2.GaussianBlur(lab, (0, 0), CONTEXT_SIGMA, borderType=cv2.BORDER_REPLICATE)
    parts += [context[..., ch] for ch in range(3)]
    return np.ascontiguousarray(np.stack(parts, axis=-1), dtype=np.float32)


def dilate(mask: np.ndarray, reach: int) -> np.ndarray:
    """``mask`` grown by a disc of radius ``reach`` pixels."""
    import cv2

    if reach <= 0:
        return np.asarray(mask, bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    return cv2.dilate(np.asarray(mask, np.uint8), kernel) > 0


def visible(mask: np.ndarray) -> np.ndarray:
    """The part of a pixel mask a viewer sees as structure (see `VISIBLE_DENSITY`)."""
    import cv2

    smooth = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), VISIBLE_SIGMA, borderType=cv2.BORDER_REPLICATE)
    return smooth >= VISIBLE_DENSITY


@dataclass(frozen=True)
class FrameInvented:
    frame: int
    fraction: float | None
    """Share of the frame (0-1) covered by visible invented structure; None when not measured."""
    uncovered_fraction: float | None
    """Share of the frame uncovered since the keyframe: the paint the motion alone cannot bring,
    which the measure judges (the rest follows the plate's motion from the keyframe)."""
    keyframe: int | None
    """The keyframe the frame was followed back to."""
    texture_ratio: float | None = None
    """Carried fine texture: the output's fine-texture energy over the keyframe paint's on the
    surfaces the keyframe saw; None when not measured (too few such surfaces, or flat paint)."""
    carried_paint_texture_ratio: float | None = None
    """The same ratio for the keyframe's paint carried here with one Lanczos resampling (the
    reference: what the plate's motion alone leaves of the texture)."""

    def to_dict(self) -> dict:
        return {
            "frame": self.frame,
            "fraction": self.fraction,
            "uncovered_fraction": self.uncovered_fraction,
            "keyframe": self.keyframe,
            "texture_ratio": self.texture_ratio,
            "carried_paint_texture_ratio": self.carried_paint_texture_ratio,
        }


@dataclass
class _Key:
    number: int
    plate: np.ndarray
    """`compare_lab` of the keyframe's plate frame."""
    paint: np.ndarray
    """`compare_lab` of the paint."""
    joint: np.ndarray
    """(h, w, 24): `descriptor` of plate / SEARCH_PLATE_TOLERANCE, then of paint / SEARCH_PAINT_TOLERANCE."""
    texture: np.ndarray
    """`pooled_texture` of the paint."""
    rgb: np.ndarray
    """The paint itself (model space, RGB)."""


class InventedStructure:
    """Streaming measure: hand frames in order with `add`; each returns its `FrameInvented`.

    ``keyframes`` are ``(frame, plate, paint)``: model-space images at the analysis size, the
    plate frame the paint was made over and the paint. Nothing in it is random: a run is
    reproducible bit for bit."""

    def __init__(self, keyframes: Sequence[tuple[int, np.ndarray, np.ndarray]]) -> None:
        if not keyframes:
            raise SpecError("the invented-structure measure needs at least one painted keyframe")
        self.keys: dict[int, _Key] = {}
        shape = None
        for number, plate, paint in keyframes:
            plate = np.asarray(plate, dtype=np.float32)
            paint = np.asarray(paint, dtype=np.float32)
            if plate.shape[:2] != paint.shape[:2] or (shape is not None and plate.shape[:2] != shape):
                raise SpecError(f"keyframe {number}: plate and paint sizes differ")
            shape = plate.shape[:2]
            joint = joint_descriptor(plate, paint)
            self.keys[int(number)] = _Key(
                int(number),
                compare_lab(plate),
                compare_lab(paint),
                joint,
                pooled_texture(paint),
                np.ascontiguousarray(paint[..., :3]),
            )
        self.shape: tuple[int, int] = shape
        self._ref: _Key | None = None
        self._positions: np.ndarray | None = None
        self._uncovered: np.ndarray | None = None
        self._key_edges: np.ndarray | None = None
        self._trees: dict[int, object] = {}
        """A k-d tree over each keyframe's joint descriptors, by keyframe number (`_explained`)."""
        self.frames: list[FrameInvented] = []

    @property
    def keyframe_numbers(self) -> list[int]:
        return sorted(self.keys)

    def add(
        self,
        number: int,
        plate: np.ndarray,
        output: np.ndarray,
        motion: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[FrameInvented, np.ndarray | None]:
        """Measure frame ``number``: its `FrameInvented` and the invented mask (None when not
        measured). ``motion`` is ``(back, fore)``: the plate's flow from this frame to the one
        handed in before it (on this frame's grid) and back (on that frame's grid); None when there
        is none (the first frame, or frames not next to each other)."""
        from stylelock.core.flow import carry_positions, fill_from_layer, motion_boundary, revealed_mask, warp

        h, w = self.shape
        if np.asarray(plate).shape[:2] != (h, w) or np.asarray(output).shape[:2] != (h, w):
            raise SpecError(f"frame {number} is not {w}x{h}, the keyframes' size")
        out_lab = compare_lab(output)
        here = np.ones((h, w), bool)
        if number in self.keys:
            key = self._ref = self.keys[number]
            self._positions = _grid(h, w)
            self._uncovered = np.zeros((h, w), bool)
            self._key_edges = None
            invented = _delta(out_lab, key.paint) > PAINT_TOLERANCE
            texture = _texture_ratio(pooled_texture(output), key.texture, here)
            # at its keyframe the paint carried by the motion alone is the paint itself: 1 (None
            # exactly where the output's ratio is None: a flat paint)
            reference = None if texture is None else 1.0
            return self._record(number, invented, ~here, key.number, texture, reference)
        if self._ref is None or motion is None or self._positions is None:
            self._ref = None  # a break in the motion: nothing to follow back until the next keyframe
            return self._record(number, None, None, None)
        back, fore = motion
        key = self._ref
        revealed = revealed_mask(fore, back)
        boundary = motion_boundary(back)
        if self._key_edges is None:  # the step after the keyframe: its own boundaries, on its grid
            edges = motion_boundary(fore) | revealed_mask(back, fore)
            # (the pooled texture of an outline's ink spreads further than the ink)
            self._key_edges = np.stack(
                [dilate(edges, EDGE_REACH), dilate(edges, EDGE_REACH + POOL_REACH)], -1
            )
        positions = carry_positions(self._positions, back)
        if revealed.any():
            (positions,) = fill_from_layer([positions], revealed, back, smooth=True)
        self._positions = positions
        self._uncovered = (warp(self._uncovered.astype(np.float32), back) > 0.5) | revealed
        offset = positions - _grid(h, w)
        inside = (
            (positions[..., 0] >= 0)
            & (positions[..., 0] <= w - 1)
            & (positions[..., 1] >= 0)
            & (positions[..., 1] <= h - 1)
        )
        key_plate = warp(key.plate, offset)
        key_paint = warp(key.paint, offset)
        near_key_edge = warp(self._key_edges.astype(np.float32), offset) > 0.0
        here_edges = boundary | revealed
        same_surface = inside & (_delta(compare_lab(plate), key_plate) <= PLATE_TOLERANCE)
        seen = same_surface & ~near_key_edge[..., 0] & ~dilate(here_edges, EDGE_REACH)
        textured = same_surface & ~near_key_edge[..., 1] & ~dilate(here_edges, EDGE_REACH + POOL_REACH)
        key_texture = warp(key.texture, offset)
        texture = _texture_ratio(pooled_texture(output), key_texture, textured)
        reference = _texture_ratio(pooled_texture(_resample(key.rgb, positions)), key_texture, textured)
        invented = self._uncovered & seen & (_delta(out_lab, key_paint) > PAINT_TOLERANCE)
        # uncovered background the keyframe never saw: any keyframe region matching the plate will do
        unseen = self._uncovered & ~seen & inside & ~dilate(boundary | revealed, EDGE_REACH)
        other_keys_may_explain = invented.any() and len(self.keys) > 1
        if other_keys_may_explain or unseen.any():
            target = joint_descriptor(plate, output)
            if other_keys_may_explain:
                invented &= ~self._explained(target, invented, exclude=key.number)
            if unseen.any():
                invented |= unseen & ~self._explained(target, unseen, exclude=None)
        return self._record(number, invented, self._uncovered, key.number, texture, reference)

    def _record(
        self,
        number: int,
        invented: np.ndarray | None,
        uncovered: np.ndarray | None,
        key: int | None,
        texture: float | None = None,
        reference: float | None = None,
    ) -> tuple[FrameInvented, np.ndarray | None]:
        if invented is None or uncovered is None:
            result = FrameInvented(int(number), None, None, None)
            self.frames.append(result)
            return result, None
        shown = visible(invented)
        result = FrameInvented(
            int(number), float(shown.mean()), float(uncovered.mean()), key, texture, reference
        )
        self.frames.append(result)
        return result, shown

    # -- another keyframe's explanation ------------------------------------------------------
    def _explained(self, target: np.ndarray, mask: np.ndarray, *, exclude: int | None) -> np.ndarray:
        """Pixels of ``mask`` that some pixel of a keyframe (other than ``exclude``) matches in
        plate and paint: within distance 1 of ``target`` (this frame's `joint_descriptor`).

        The search is exact: a k-d tree over each keyframe's pixels, asked for any entry within
        distance 1. A PatchMatch-style search (random starts, propagation) misses what only a few
        keyframe pixels explain: on the sample plate's frames 1025-1048, where the paint-over shows
        a checker's red cells only at a few outlined corners, it missed 5,602 of the 10,700 pixels
        it called unexplained at frame 1048 (each checked against every keyframe pixel). A tree is
        built once per keyframe (half a second for a 1056x594 one on a 2-core CPU, about 125 MB);
        a query of 30,000 pixels takes about as long. Pixels whose descriptor is not finite (NaN
        paint) are not explained."""
        explained = np.zeros(mask.shape, bool)
        rows = target.reshape(-1, target.shape[-1])
        pending = np.flatnonzero(np.asarray(mask, bool))
        pending = pending[np.isfinite(rows[pending]).all(axis=-1)]
        within = np.nextafter(1.0, 2.0)  # the query's bound is strict; a distance of 1 explains
        for number in sorted(self.keys):
            if number == exclude or not pending.size:
                continue
            distance, _ = self._tree(number).query(rows[pending], k=1, distance_upper_bound=within)
            found = np.isfinite(distance)
            explained.reshape(-1)[pending[found]] = True
            pending = pending[~found]
        return explained

    def _tree(self, number: int):
        """The k-d tree over keyframe ``number``'s joint descriptors (built on first use)."""
        from scipy.spatial import cKDTree

        tree = self._trees.get(number)
        if tree is None:
            joint = self.keys[number].joint
            bank = np.nan_to_num(joint.reshape(-1, joint.shape[-1]), nan=1e6, posinf=1e6, neginf=-1e6)
            tree = self._trees[number] = cKDTree(bank, balanced_tree=False, compact_nodes=False)
        return tree


def pooled_texture(image: np.ndarray) -> np.ndarray:
    """`fine_texture_map` of ``image`` pooled by a Gaussian of `TEXTURE_POOL_SIGMA` px: smooth
    enough to be carried along motion by bilinear sampling without losing energy."""
    import cv2

    from stylelock.core.metrics.fidelity import fine_texture_map

    return cv2.GaussianBlur(
        fine_texture_map(image), (0, 0), TEXTURE_POOL_SIGMA, borderType=cv2.BORDER_REPLICATE
    )


def _resample(image: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``image`` sampled at (h, w, 2) positions (x, y) with a Lanczos kernel, clipped to [0, 1]."""
    import cv2

    out = cv2.remap(
        image,
        np.ascontiguousarray(positions[..., 0]),
        np.ascontiguousarray(positions[..., 1]),
        cv2.INTER_LANCZOS4,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.clip(out, 0.0, 1.0)


def _texture_ratio(output: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float | None:
    """Pooled texture energy of ``output`` over ``reference`` inside ``mask``; None when the mask is
    under `MIN_CARRIED_SHARE` of the frame or the reference has no texture there."""
    margin = int(np.ceil(3 * TEXTURE_POOL_SIGMA))  # the frame's edge cuts the filters' support
    mask = mask.copy()
    mask[:margin], mask[-margin:], mask[:, :margin], mask[:, -margin:] = False, False, False, False
    if mask.mean() < MIN_CARRIED_SHARE:
        return None
    ref = float(reference[mask].astype(np.float64).sum())
    if ref <= 1e-9 * mask.sum():
        return None
    return float(output[mask].astype(np.float64).sum()) / ref


def joint_descriptor(plate: np.ndarray, paint: np.ndarray) -> np.ndarray:
    """(h, w, 24) float32: `descriptor` of the plate / `SEARCH_PLATE_TOLERANCE`, then of the paint
    (or output) / `SEARCH_PAINT_TOLERANCE`: a keyframe pixel within distance 1 of a pixel's
    explains its paint."""
    return np.ascontiguousarray(
        np.concatenate(
            [descriptor(plate) / SEARCH_PLATE_TOLERANCE, descriptor(paint) / SEARCH_PAINT_TOLERANCE], axis=-1
        ),
        dtype=np.float32,
    )


def _grid(h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.ascontiguousarray(np.stack([xs, ys], axis=-1))


def _delta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIE76 ΔE between two L*a*b* images."""
    return np.sqrt(((a - b) ** 2).sum(axis=-1))
