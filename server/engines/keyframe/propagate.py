"""Carrying one keyframe's paint along the shot, frame by frame, in one direction.

A pass starts at its keyframe (where the output is the paint itself and the correspondence field
is the identity) and steps to the next plate frame: it moves its state along the flow (keyframe
coordinates for the positional guide, the previous output for the temporal guide, the previous
correspondence field as the starting point) and synthesizes the frame. Everything a pass
computes is a pure function of the keyframe, the plate frames from the keyframe to here and the
parameters: that is what makes chunked renders match unchunked ones exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from stylelock.core import flow as coreflow
from stylelock.server.engines.base import ModelFrame
from stylelock.server.engines.keyframe import detail, rng
from stylelock.server.engines.keyframe.atlas import SurfaceAtlas, copied_from_elsewhere
from stylelock.server.engines.keyframe.backend import Backend
from stylelock.server.engines.keyframe.disocclusion import (
    PaintPrior,
    VanishedSurfaces,
    behind_the_edge,
    uncovered_paint,
)
from stylelock.server.engines.keyframe.flowsrc import FlowProvider
from stylelock.server.engines.keyframe.guides import (
    GuideWeights,
    channel_scale,
    coords,
    edges,
    luma,
    plate_guides,
)
from stylelock.server.engines.keyframe.styleblit import styleblit
from stylelock.server.engines.keyframe.synth import (
    Schedule,
    SourceLevel,
    build_source,
    identity_nnf,
    synthesize,
)


@dataclass
class Settings:
    """Everything a pass needs besides its keyframe; built once per job."""

    backend: Backend
    flows: FlowProvider
    sched: Schedule
    weights: GuideWeights
    mode: str
    seed: int
    threshold: float
    cancelled: Callable[[], bool] = lambda: False


@dataclass
class Keyframe:
    """A painted (or synthesized) keyframe: the style and the plate frame it was painted over."""

    frame: int
    style: np.ndarray
    """(h, w, S) float32 in [0, 1]: RGB, plus the paint's alpha as a fourth channel if it has one."""
    plate: ModelFrame
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def norm(self) -> float:
        return float(max(self.style.shape[:2]))

    @property
    def use_alpha(self) -> bool:
        return self.plate.alpha is not None

    def release(self) -> None:
        """Free the pyramids while no pass uses this keyframe (they are rebuilt identically)."""
        self._cache.clear()

    def padded_style(self, backend: Backend, r: int) -> Any:
        """The paint padded by `r` on the backend (what StyleBlit's blend samples)."""
        name = f"style_pad{r}"
        if name not in self._cache:
            self._cache[name] = backend.pad(backend.asarray(self.style), r)
        return self._cache[name]

    def guides(self, weights: GuideWeights) -> np.ndarray:
        if "guides" not in self._cache:
            h, w = self.style.shape[:2]
            self._cache["guides"] = plate_guides(
                self.plate.rgb, self.plate.alpha, coords(h, w), self.norm, weights, self.use_alpha
            )
        return self._cache["guides"]

    def prior(self) -> PaintPrior:
        """The keyframe's plate-colour -> paint table (first guess for uncovered pixels)."""
        if "prior" not in self._cache:
            self._cache["prior"] = PaintPrior(self.plate.rgb, self.style, edges(luma(self.plate.rgb)))
        return self._cache["prior"]

    def style_scale(self, weights: GuideWeights, temporal_weight: float) -> float:
        """The factor of the paint's channels in matching: the style and temporal terms share them."""
        return channel_scale(weights.style + temporal_weight, self.style.shape[2])

    def voted_layers(self, settings: Settings) -> tuple[Any, np.ndarray]:
        """The paint and its colour's detail band side by side, padded for voting, and the band's
        gain by fractional position (`detail.lookup_table`); built once."""
        if "voted_layers" not in self._cache:
            b = settings.backend
            r = settings.sched.patch // 2
            band = b.pad(b.asarray(detail.detail_band(self.style)), r)
            h, w = self.style.shape[:2]
            table = detail.lookup_table(detail.gain_table(b, band, r, h, w))
            paint = b.pad(b.asarray(self.style), r)  # as `build_source` keeps it for voting
            self._cache["voted_layers"] = (b.concat([paint, band]), table)
        return self._cache["voted_layers"]

    def source(self, settings: Settings, temporal_weight: float) -> list[SourceLevel]:
        """The keyframe's pyramid on the backend for a temporal weight (it scales the paint's
        channels), built once per weight and shared by both directions."""
        key = ("source", temporal_weight)
        if key not in self._cache:
            self._cache[key] = build_source(
                settings.backend,
                self.guides(settings.weights),
                self.style,
                self.style_scale(settings.weights, temporal_weight),
                settings.sched.levels,
                settings.sched.patch,
            )
        return self._cache[key]


@dataclass
class PassFrame:
    """One frame of a pass: enough to re-vote the style (kept compact for backward passes)."""

    number: int
    field: np.ndarray
    """(h, w, 2) float32 sub-pixel source positions (see `subpixel_field`)."""
    exact: np.ndarray
    """(h, w) bool: pixels that follow the flow."""
    error: np.ndarray


def subpixel_field(nnf: np.ndarray, carried: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The correspondence field made sub-pixel where it continues the previous frame's.

    Patches are searched at whole pixels, but the plate moves by fractions of one. ``carried`` is
    the previous frame's sub-pixel field moved along the flow (on the frame after a keyframe: the
    keyframe coordinates themselves). Where the search kept a patch within a pixel of it, the
    carried position is used, so paint glides with the plate instead of snapping from pixel to
    pixel (which reads as flicker on every painted edge); elsewhere (disocclusions, new texture)
    the searched position starts a new track. Returns the (h, w, 2) float32 field and the (h, w)
    bool mask of pixels that continue a track."""
    h, w = nnf.shape[:2]
    exact = np.abs(nnf.astype(np.float32) - carried).max(axis=-1) <= 1.0
    inside = np.stack(
        [np.clip(carried[..., 0], 0.0, w - 1.0), np.clip(carried[..., 1], 0.0, h - 1.0)], axis=-1
    )
    field = np.where(exact[..., None], inside, nnf.astype(np.float32))
    return np.ascontiguousarray(field, dtype=np.float32), np.ascontiguousarray(exact)


#: Mean RGB difference (display-referred) above which the plate's own change is not explained by
#: the motion: translucency, reflections, lighting, or a wrong flow.
PHOTOMETRIC_LIMIT = 0.04


def explained_by_motion(rgb: np.ndarray, prev_rgb: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Pixels whose plate colour the previous plate frame, warped by the flow, predicts.

    Where it does not (a ball seen through a translucent leaf moves under the leaf's vectors), a
    carried track is no promise: it must win on its merits like any new patch."""
    import cv2

    diff = np.abs(rgb - coreflow.warp(prev_rgb, back)).mean(axis=-1)
    diff = cv2.GaussianBlur(diff.astype(np.float32), (0, 0), 1.0)
    return diff < PHOTOMETRIC_LIMIT


#: The floor of the motion-boundary test (`coreflow.motion_boundary`) on an estimated flow. DIS's
#: field is not smooth inside a layer (its patch grid leaves steps of a tenth of a pixel and more),
#: and at the floor made for exact vectors (0.002, a gradient of 0.045 px per pixel) 6.4 % of the
#: pixels of a DIS field of the demo plate (frames 1001/1002) read as motion boundaries, 2.0 % at
#: 0.05 (0.22 px per pixel): there tracks lost the benefit of the doubt and the temporal guide its
#: trust, and paint was re-synthesized frame after frame on a plate that barely changed. One-off
#: trials on the demo's frames without vectors or overscan (short-term low-passed ratio, worst run
#: of five pairs): 1.41 (1.73) before, 1.32 at 0.02, 1.28 (1.56) at 0.05, 1.28 at 0.15, 1.29 (1.61)
#: with no boundary test; the same run's long-term worst run 1.53 -> 1.37 at 0.05. Runs of
#: unchanged code on two machines differed by a few hundredths, so 0.05 to 0.15 is one plateau.
ESTIMATED_BOUNDARY_FLOOR = 0.05


def carry_invalid(back: np.ndarray, holes: np.ndarray, exact_flow: bool) -> np.ndarray:
    """(h, w) bool: pixels the backward flow ``back`` cannot carry the previous frame's state to,
    uncovered (``holes``) or on a motion boundary (at `ESTIMATED_BOUNDARY_FLOOR` on an estimated
    flow). Its complement is where the temporal guide is trusted; tracks are trusted on a part of
    that (`explained_by_motion`). With ``holes`` from `coreflow.revealed_mask` and exact vectors, it
    is the complement of `coreflow.occlusion_mask`."""
    floor = coreflow.VECTORS_BOUNDARY_FLOOR if exact_flow else ESTIMATED_BOUNDARY_FLOOR
    return holes | coreflow.motion_boundary(back, floor=floor)


#: Outline reaches (`coreflow.outline_reach`) around moving edges where copied paint does not
#: settle: at one reach the test square's ink still stayed along its path, at two it did not.
SETTLE_CLEARANCE = 2


class _Match(NamedTuple):
    """Where one frame's pixels take their paint from, and the positions that guided it."""

    nnf: np.ndarray
    error: np.ndarray
    field: np.ndarray
    exact: np.ndarray
    positions: np.ndarray
    trust: np.ndarray | None = None
    """Where the motion explains the plate's change (None: the match made no such judgement)."""
    unseen: np.ndarray | None = None
    """The frame's pixels showing background the keyframe did not show (`Pass.unseen`; None: the
    match made no such judgement)."""


class Pass:
    """The chain of frames carried from `key` in `direction` (+1 forward, -1 backward)."""

    def __init__(self, settings: Settings, key: Keyframe, direction: int) -> None:
        self.s = settings
        self.key = key
        self.direction = direction
        h, w = key.style.shape[:2]
        self.number = self.key.frame
        self.plate = self.key.plate
        self.nnf = identity_nnf(h, w)
        self.field = coords(h, w)
        self.style = self.key.style
        self.positions = coords(h, w)
        self.atlas = SurfaceAtlas(h, w)
        self.vanished = VanishedSurfaces(h, w)
        self.unseen = np.zeros((h, w), bool)
        """Pixels of the current frame showing background uncovered since the keyframe that the
        keyframe did not show (`VanishedSurfaces`)."""
        self.age = np.zeros((h, w), np.uint8)
        """Frames each pixel of the current frame has continued a track of copied paint
        (`synth.track_factor`; it stops growing at 255)."""

    def vote(self, field: np.ndarray, exact: np.ndarray) -> np.ndarray:
        """The style a stored (sub-pixel) correspondence field stands for."""
        b = self.s.backend
        r = 1 if self.s.mode == "styleblit" else self.s.sched.patch // 2
        if self.s.mode == "styleblit":
            style = self.key.padded_style(b, 1)
            voted = b.numpy(b.vote_float(style, b.asarray(field), b.asarray(exact), r))
        else:
            layers, table = self.key.voted_layers(self.s)
            both = b.numpy(b.vote_float(layers, b.asarray(field), b.asarray(exact), r))
            n = self.key.style.shape[2]
            # a tracked pixel's colour detail gets back the contrast the kernel took at its fraction
            extra = np.where(exact, detail.gain_at(table, field) - 1.0, 0.0).astype(np.float32)
            voted = both[..., :n]
            voted[..., :3] += extra[..., None] * both[..., n:]
        # the sharp kernel overshoots a little at crisp edges: paint stays paint (and the next
        # frame's temporal guide with it)
        return np.clip(voted, 0.0, 1.0)

    def step(self, frame: ModelFrame) -> PassFrame | None:
        """Carry the pass onto `frame` (the next frame in its direction); None if cancelled."""
        if frame.number != self.number + self.direction:
            raise ValueError(f"pass from {self.key.frame} is at {self.number}, cannot step to {frame.number}")
        ahead, back = self.s.flows.pair(self.plate, frame)
        revealed = holes = coreflow.revealed_mask(ahead, back)
        if self.s.mode != "styleblit":  # what this frame no longer shows (see `VanishedSurfaces`)
            self.vanished.record(self.positions, coreflow.revealed_mask(back, ahead), self.unseen)
        exact_flow = self.s.flows.exact(self.plate, frame)
        if exact_flow:
            # only exact layer edges say where an outline's ink lies; an estimated flow's uncovered
            # areas are blurred wider than the outline anyway (and growing them measured more flicker)
            holes = behind_the_edge(revealed, back, coreflow.outline_reach(*revealed.shape))
        nearest = coreflow.nearest_source(back)
        positions = coreflow.carry_positions(self.positions, back, nearest)
        carried = coreflow.carry_positions(self.field, back, nearest)
        # synthesized paint reads its correspondence at its surface point (see atlas.py)
        # content beyond the keyframe keeps its copies there only on the plate's own vectors (see
        # atlas.py)
        carried = self.atlas.read(positions, carried, nearest, holes, beyond=exact_flow)
        if self.s.mode == "styleblit":
            match = self._styleblit(frame, positions, carried, holes, back)
        else:
            match = self._synthesize(frame, positions, carried, holes, revealed, back, nearest, exact_flow)
            if match is None:
                return None
        self.atlas.write(match.positions, match.field, beyond=exact_flow)
        style = self.vote(match.field, match.exact)
        self.number = frame.number
        self.plate = frame
        self.nnf = match.nnf
        # tracks settle only on the plate's own vectors: on an estimated flow, all three plates
        # without vectors measured more short-term flicker with them settling (the photo plate's
        # 1.19 -> 1.32 low-passed), so there every track is judged as young
        if match.trust is not None and exact_flow:
            self.age = self._settled_age(match, ahead, back, nearest)
        else:
            self.age = np.zeros_like(self.age)
        self.field = match.field
        self.style = style
        self.positions = match.positions
        if match.unseen is not None:
            self.unseen = match.unseen
        return PassFrame(frame.number, match.field, match.exact, match.error)

    def _settled_age(self, match: _Match, ahead, back, nearest) -> np.ndarray:
        """How long each pixel's track of copied paint has held (`synth.track_factor`).

        Only copied paint settles: paint from a pixel's own surface point is what the keyframe
        showed there, and where the plate no longer matches it the search must stay free to
        replace it. Nor does paint near a moving object's edge: an outline's ink is copied along
        the edge as the object moves, and once the object has moved on, the background it lay on
        must get its own paint back (settled, the ink stayed as lines along the object's path).
        A track the motion does not explain (uncovered pixels, motion boundaries, a plate change
        the flow does not predict) starts again at 0."""
        settling = match.exact & match.trust & copied_from_elsewhere(match.field, match.positions)
        reach = SETTLE_CLEARANCE * coreflow.outline_reach(*settling.shape)
        settling &= ~coreflow.outline_band(back, ahead, reach)
        grown = np.minimum(self.age[nearest], 254) + 1
        return np.where(settling, grown, 0).astype(np.uint8)

    def _styleblit(self, frame, positions, carried, holes, back) -> _Match:
        """StyleBlit's match (no search, so none of the EbSynth targets are needed)."""
        if holes.any():
            positions, carried = coreflow.fill_from_layer([positions, carried], holes, back)
        w = self.s.weights
        guides = plate_guides(frame.rgb, frame.alpha, positions, self.key.norm, w, self.key.use_alpha)
        total = w.colour + w.edges + w.positional
        nnf, error = styleblit(
            positions, guides, self.key.guides(w), total, self.s.threshold, rng.mix(self.s.seed, 0x51)
        )
        field, exact = subpixel_field(nnf, carried)
        return _Match(nnf, error, field, exact, positions)

    def _synthesize(
        self, frame, positions, carried, holes, revealed, back, nearest, exact_flow
    ) -> _Match | None:
        """EbSynth's match, or None if cancelled. ``revealed``: the pixels the previous frame did not
        show; ``holes``: those and the band behind them that is re-painted with them."""
        valid = ~carry_invalid(back, holes, exact_flow)
        # a track gets the benefit of the doubt only where the motion explains the plate's change
        # (the temporal guide keeps `valid`: narrowing it to `trust` too measured more flicker)
        trust = valid & explained_by_motion(frame.rgb, self.plate.rgb, back)
        temporal = coreflow.warp(self.style, back)
        init = np.ascontiguousarray(self.nnf[nearest])
        unseen = self.unseen[nearest]  # carried along the flow; uncovered pixels are judged below
        # Uncovered background continues its own layer, not the object that uncovered it: carried
        # along the flow, it would take the object's paint (its outline) and leave a trail behind
        # it. Its search and its track start where that layer was in the keyframe, and its first
        # guess of paint is the keyframe's there if the keyframe saw it (see disocclusion.py).
        if holes.any():
            (positions,) = coreflow.fill_from_layer([positions], holes, back, smooth=True)
            init[holes] = np.rint(positions[holes]).astype(init.dtype)
            carried[holes] = positions[holes]
            # Did the keyframe see this surface? Only if the pass saw it go out of view since; the
            # band grown behind the strip was in view on the previous frame, and the keyframe saw
            # it unless it was uncovered unseen on an earlier frame. On an estimated flow colour
            # alone decides: the test leans on exact occlusion masks, and DIS blurs layer edges
            # (on the vector-less demo it measured the same either way: worst runs within 0.013,
            # invented paint 0.715 vs 0.701 %)
            may_show = np.ones(int(holes.sum()), bool)
            if exact_flow:
                may_show = np.where(
                    revealed[holes], self.vanished.went_out_of_view(positions[holes]), ~unseen[holes]
                )
            temporal[holes] = uncovered_paint(
                frame.rgb[holes],
                positions[holes],
                self.key.plate.rgb,
                self.key.style,
                self.key.prior(),
                may_show,
            )
            unseen[holes] = ~may_show
            valid = valid | holes
            hk, wk = self.key.style.shape[:2]
            init = np.stack([np.clip(init[..., 0], 0, wk - 1), np.clip(init[..., 1], 0, hk - 1)], -1)
            init = np.ascontiguousarray(init, dtype=np.int32)
        w = self.s.weights
        guides = plate_guides(frame.rgb, frame.alpha, positions, self.key.norm, w, self.key.use_alpha)
        weight = w.temporal_on(exact_flow)
        result = synthesize(
            self.s.backend,
            self.key.source(self.s, weight),
            guides,
            self.s.sched,
            rng.mix(self.s.seed, frame.number, self.key.frame, self.direction),
            style_scale=self.key.style_scale(w, weight),
            temporal=temporal,
            valid=valid,
            temporal_mix=w.temporal_mix(exact_flow),
            init=init,
            track=carried,
            track_trust=trust,
            track_age=self.age[nearest],
            cancelled=self.s.cancelled,
        )
        if result is None:
            return None
        return _Match(result.nnf, result.error, result.field, result.exact, positions, trust, unseen)
