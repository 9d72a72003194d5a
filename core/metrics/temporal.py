"""Temporal stability of a restyled sequence: flow-warped error against the source plate's own.

Warp error (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): for frames t and s,

    E(O_t, O_s) = sum_x M(x) * mean_c (O_t(x) - W(O_s)(x))^2 / sum_x M(x)

where W warps O_s onto frame t's grid with the flow t -> s measured on the SOURCE PLATE (never on
the output, which could hide flicker by tracking it), and M is `stylelock.core.flow.occlusion_mask`
(forward-backward check, motion boundaries, out-of-frame). The squared difference is averaged over
the three model-space channels, so E is an MSE in [0, 1] units.

The plate's own E on the same flow and mask is the baseline: interpolation, noise, lighting changes
and flow errors all show there too. The reported figure is the ratio

    ratio = (E_output + floor) / (E_plate + floor),   floor = (1/255)^2 (one 8-bit code value RMS)

so a perfectly stable restyle has a ratio near 1, flicker pushes it up, and a static plate (E_plate
~ 0) gives a finite ratio that stays near 1 unless the output changes by more than about a code
value. Sequence ratios are taken on the means over frames (mean E_output over mean E_plate, each
pair weighted equally), not as a mean of per-frame ratios, so a few frames with tiny errors cannot
dominate.

Judged at the scale it is seen: every term is measured twice, at full resolution and low-passed
(a Gaussian of ``lowpass`` pixels, 1 by default, on plate and output alike, before warping). Warping
the previous frame resamples it, so at full resolution a crisp painted line that glides by a
fraction of a pixel reads as error although nothing visible changes (on a photographic plate the
paint carried along the true motion, with no synthesis at all, scored 6.8 at full resolution and
0.47 low-passed); what a viewer sees as flicker survives the low-pass. The low-passed ratio is the
one `stylelock qc` gates on; the full-resolution one is reported beside it.

The low-passed figure also leaves out the outline band of moving objects: pixels within a few
pixels (`outline_reach`, 3 at 540 lines) of a layer edge (the flow jumping by more than a pixel
between neighbours) in either frame of a pair. A painted outline travels with the object whose
edge it follows, so the background it leaves behind rightly changes paint as the object moves on,
and the background it moves onto is covered; Lai et al.'s mask leaves out only the edge pixels
themselves, so there an engine that keeps outlines on their objects scored worse than one that
leaves them behind on the background (a wake). Plate and output are measured on the same pixels.

Beside the means over the shot, each term keeps its worst run: the ratio over the ``run`` (5)
consecutive pairs whose pooled errors are worst, so a burst of flicker in a few frames of a long,
otherwise steady shot is not averaged away (and one odd frame is not mistaken for a burst).

Three terms are measured, on sequence positions (the n-th frame handed in, whatever its number):
- ``short``: k = 1, frame t against the frame before it. The flow is the plate's motion vectors when
  frame t carries backward vectors, the previous frame forward vectors, and their numbers are
  consecutive; otherwise DIS estimated on the two plate frames (both directions, for the check).
- ``long``: k = 10 (``long_k``), frame t against the frame ten positions back, by chaining the ten
  short-term flows: F_{t->t-k}(x) = F_{t->t-1}(x) + F_{t-1->t-k}(x + F_{t->t-1}(x)), and likewise
  forwards for the check. Chaining was measured to beat a direct DIS estimate across ten frames
  (DIS's pyramid is shallow on small frames and misses large motion; on a 96x72 pan of 15 px the
  direct estimate kept 2 % of the pixels, the chain 74 %), and costs no extra estimation; drift
  along the chain shows up as forward-backward inconsistency and is masked out. A chained pair also
  needs every link on its path to pass its own occlusion check: a point hidden at some frame in
  between has a chain that follows whatever hid it, and can come back consistent end to end while
  comparing two different surfaces (on the sample plate this counted the leaf against the sky
  behind it, on both the plate and the output side: the plate's own long-term error fell from
  7.4e-4 to 2.7e-4 when those paths were left out).
- ``anchor``: frame t against the anchor (the keyframe, else the first frame). From the anchor on,
  the short-term flows are chained as above (running, one step per frame); frames streamed before
  the anchor are compared through a direct DIS estimate. `PairError.links` says which (1 = direct).

Frames are streamed: only the last ``long_k + 1`` frames (and the anchor) are held.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from stylelock.core.errors import SpecError
from stylelock.core.flow import (
    FlowSource,
    estimate_flows,
    flow_from_vectors,
    occlusion_mask,
    outline_band,
    outline_reach,
    vectors_source,
    warp,
)

log = logging.getLogger(__name__)

#: Added to both warp errors before dividing (see the module docstring): one 8-bit code value, squared.
WARP_ERROR_FLOOR = (1.0 / 255.0) ** 2
LONG_K = 10
#: Gaussian sigma in pixels of the low-passed warp error (see the module docstring).
LOWPASS_SIGMA = 1.0
#: Consecutive pairs pooled for a term's worst run.
RUN_PAIRS = 5
TERMS = ("short", "long", "anchor")


def warp_error(out_t: np.ndarray, out_prev: np.ndarray, flow: np.ndarray, valid_mask: np.ndarray) -> float:
    """Occlusion-masked MSE between ``out_t`` and ``out_prev`` warped onto t by ``flow`` (t -> prev).

    Images are (h, w) or (h, w, c); the squared difference is averaged over channels and over the
    pixels where ``valid_mask`` is True. NaN when no pixel is valid (nothing to compare).
    """
    a = np.asarray(out_t, dtype=np.float32)
    warped = warp(np.asarray(out_prev, dtype=np.float32), flow)
    if a.shape != warped.shape:
        raise SpecError(f"warp error frames differ in shape: {a.shape} vs {warped.shape}")
    diff = (a - warped).astype(np.float64) ** 2
    if diff.ndim == 3:
        diff = diff.mean(axis=2)
    valid = np.asarray(valid_mask, dtype=bool)
    n = int(valid.sum())
    if n == 0:
        return math.nan
    return float(diff[valid].sum() / n)


def warp_ratio(output_error: float, plate_error: float, floor: float = WARP_ERROR_FLOOR) -> float:
    """``(output_error + floor) / (plate_error + floor)``; NaN when either error is NaN."""
    return float((output_error + floor) / (plate_error + floor))


@dataclass(frozen=True)
class PairError:
    """Warp errors of one frame against one earlier (or anchor) frame."""

    other: int
    """Frame number of the frame compared against."""
    output: float
    plate: float
    ratio: float
    valid_fraction: float
    """Share of pixels the occlusion mask kept."""
    flow: str
    """`FlowSource.kind` of the flow used (``"mixed:a+b"`` when a chain joins several kinds)."""
    links: int = 1
    """Short-term flows chained to reach the other frame (1: one flow, measured directly)."""
    output_lowpass: float = math.nan
    """The output's warp error with plate and output low-passed (`LOWPASS_SIGMA`)."""
    plate_lowpass: float = math.nan
    ratio_lowpass: float = math.nan


@dataclass(frozen=True)
class FrameTemporal:
    frame: int
    short: PairError | None = None
    long: PairError | None = None
    anchor: PairError | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TermSummary:
    """One term (short, long or anchor) over the whole sequence."""

    term: str
    k: int | None
    """Distance in sequence positions, None for the anchor term."""
    pairs: int
    """Frame pairs with valid pixels that entered the means."""
    output: float
    plate: float
    ratio: float
    """(mean output error + floor) / (mean plate error + floor); NaN when no pair was measured."""
    worst_ratio: float
    worst_frame: int | None
    flow_sources: tuple[str, ...] = field(default_factory=tuple)
    output_lowpass: float = math.nan
    plate_lowpass: float = math.nan
    ratio_lowpass: float = math.nan
    """The low-passed counterpart of ``ratio``: what `stylelock qc` gates on."""
    worst_lowpass_ratio: float = math.nan
    worst_lowpass_frame: int | None = None
    worst_run_ratio: float = math.nan
    """Low-passed ratio of the worst ``run_pairs`` consecutive pairs, pooled (all of them when fewer)."""
    worst_run_frames: tuple[int, int] | None = None
    """First and last frame of that run."""
    run_pairs: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Link:
    """The flows between a frame t and the frame streamed before it."""

    back: np.ndarray
    """t -> previous, on t's grid."""
    fore: np.ndarray
    """previous -> t, on the previous frame's grid."""
    kind: str
    valid: np.ndarray
    """`occlusion_mask` of this link, on t's grid."""
    valid_layer: np.ndarray | None = None
    """``valid`` without the outline band of moving objects (`outline_band`): the low-passed mask."""


@dataclass
class _Entry:
    number: int
    plate: np.ndarray
    output: np.ndarray
    bw: np.ndarray | None
    fw: np.ndarray | None
    vectors: str | None
    link: _Link | None = None
    plate_lp: np.ndarray | None = None
    output_lp: np.ndarray | None = None


def lowpass(image: np.ndarray, sigma: float = LOWPASS_SIGMA) -> np.ndarray:
    """A Gaussian of ``sigma`` pixels (edges replicated); the image itself when ``sigma`` <= 0."""
    import cv2

    img = np.ascontiguousarray(image, dtype=np.float32)
    if sigma <= 0:
        return img
    out = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    return out.reshape(img.shape)


@dataclass
class _Chain:
    """Flows between the newest frame and an earlier one, grown one link at a time."""

    back: np.ndarray
    fore: np.ndarray
    kinds: set[str]
    links: int
    visible: np.ndarray
    """Pixels of the newest frame whose path passed every link's occlusion check: a point hidden
    at some frame in between has a chained flow that follows whatever hid it. The chain samples
    the older flow bilinearly, so a point counts as visible only where all four pixels it is
    sampled from were (a looser rule, a majority of them, lets paths that graze an occluder
    through: with it the demo's long-term ratio read 0.96 instead of 0.70, the difference being
    paint at the occluders' edges compared across them)."""
    visible_layer: np.ndarray
    """As ``visible``, with each link's outline band left out too (the low-passed measure's)."""

    def extend(self, link: _Link) -> None:
        # F_{t->a}(x) = F_{t->t-1}(x) + F_{t-1->a}(x + F_{t->t-1}(x));
        # F_{a->t}(y) = F_{a->t-1}(y) + F_{t-1->t}(y + F_{a->t-1}(y)).
        self.visible = link.valid & (warp(self.visible.astype(np.float32), link.back) > 0.999)
        self.visible_layer = link.valid_layer & (
            warp(self.visible_layer.astype(np.float32), link.back) > 0.999
        )
        self.back = link.back + warp(self.back, link.back)
        self.fore = self.fore + warp(link.fore, self.fore)
        self.kinds.add(link.kind)
        self.links += 1

    @property
    def kind(self) -> str:
        return next(iter(self.kinds)) if len(self.kinds) == 1 else "mixed:" + "+".join(sorted(self.kinds))


class TemporalStability:
    """Streaming accumulator: hand frames in order with `add`, read `summary` at the end.

    ``anchor`` is ``(frame, plate, output)`` of the keyframe to measure long-range drift against; when
    None, the first frame added is the anchor. ``preset`` is the DIS preset for estimated flows.
    Plate and output frames are model-space (h, w, 3) float32 of one size; ``aovs`` are the plate's
    other channels at that size (motion vectors in pixels of the original plate, times
    ``vector_scale``).
    """

    def __init__(
        self,
        *,
        long_k: int = LONG_K,
        anchor: tuple[int, np.ndarray, np.ndarray] | None = None,
        preset: str = "medium",
        lowpass_sigma: float = LOWPASS_SIGMA,
        run_pairs: int = RUN_PAIRS,
        outline_reach: int | None = None,
    ) -> None:
        if long_k < 2:
            raise SpecError(f"long-term distance k={long_k} must be at least 2")
        if run_pairs < 1:
            raise SpecError(f"a worst run needs at least 1 pair, not {run_pairs}")
        self.long_k = long_k
        self.preset = preset
        self.lowpass_sigma = float(lowpass_sigma)
        self.run_pairs = int(run_pairs)
        self.outline_reach = outline_reach
        """Pixels left out around layer edges in the low-passed measure; None: `outline_reach` of
        the frame size, 0: none (Lai et al.'s mask alone)."""
        self._window: deque[_Entry] = deque(maxlen=long_k + 1)
        self._anchor = anchor
        self._anchor_chain: _Chain | None = None
        self._frames: list[FrameTemporal] = []

    @property
    def frames(self) -> list[FrameTemporal]:
        return list(self._frames)

    def latest_motion(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The newest frame's motion to the frame before it, as measured for the short term:
        ``(back, fore, valid)`` (flow newest -> previous on the newest frame's grid, previous ->
        newest on the previous one's, and `occlusion_mask` of the pair); None for the first frame."""
        if not self._window or self._window[-1].link is None:
            return None
        link = self._window[-1].link
        return link.back, link.fore, link.valid

    def add(
        self,
        number: int,
        plate: np.ndarray,
        output: np.ndarray,
        *,
        aovs: Mapping[str, np.ndarray] | None = None,
        vector_scale: float = 1.0,
    ) -> FrameTemporal:
        plate = np.asarray(plate, dtype=np.float32)
        output = np.asarray(output, dtype=np.float32)
        if plate.shape != output.shape:
            raise SpecError(
                f"frame {number}: output is {output.shape[1]}x{output.shape[0]}, "
                f"plate is {plate.shape[1]}x{plate.shape[0]}"
            )
        if self._window and self._window[-1].plate.shape != plate.shape:
            raise SpecError(f"frame {number} changes size within the sequence: {plate.shape}")
        aovs = aovs or {}
        bw = flow_from_vectors(aovs, "backward", scale=vector_scale)
        fw = flow_from_vectors(aovs, "forward", scale=vector_scale)
        src = vectors_source(aovs, "backward") or vectors_source(aovs, "forward")
        entry = _Entry(number, plate, output, bw, fw, src.kind if src else None)
        entry.plate_lp = lowpass(plate, self.lowpass_sigma)
        entry.output_lp = lowpass(output, self.lowpass_sigma)
        if self._window:
            entry.link = self._link(self._window[-1], entry)
        self._window.append(entry)
        if self._anchor is None:
            self._anchor = (number, plate, output)

        entries = list(self._window)
        short = long = anchor = None
        if len(entries) >= 2:
            short = self._measure(entry, entries[-2], self._chain(entries[-1:]))
        if len(entries) == self.long_k + 1:
            long = self._measure(entry, entries[0], self._chain(entries[1:]))

        a_num, a_plate, a_out = self._anchor
        a_entry = _Entry(a_num, a_plate, a_out, None, None, None)
        a_entry.plate_lp = lowpass(a_plate, self.lowpass_sigma)
        a_entry.output_lp = lowpass(a_out, self.lowpass_sigma)
        if a_num == number:
            zero = np.zeros((*plate.shape[:2], 2), np.float32)
            everywhere = np.ones(plate.shape[:2], bool)
            self._anchor_chain = _Chain(zero, zero, set(), 0, everywhere, everywhere)
        elif self._anchor_chain is not None:
            self._anchor_chain.extend(entry.link)
            anchor = self._measure(entry, a_entry, self._anchor_chain)
        else:
            back, fore, kind = self._dis(plate, a_plate)
            valid = occlusion_mask(fore, back)
            direct = _Chain(back, fore, {kind}, 1, valid, valid)
            anchor = self._measure(entry, a_entry, direct)
        result = FrameTemporal(number, short, long, anchor)
        self._frames.append(result)
        return result

    def _dis(self, t_plate: np.ndarray, s_plate: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
        back, fore = estimate_flows(t_plate, s_plate, preset=self.preset)
        return back, fore, FlowSource.estimated(self.preset).kind

    def _link(self, prev: _Entry, t: _Entry) -> _Link:
        """Plate vectors when both frames carry them and are consecutive, else DIS."""
        if t.bw is not None and prev.fw is not None and t.number - prev.number == 1:
            back, fore, kind = t.bw, prev.fw, t.vectors or "vectors"
        else:
            back, fore, kind = self._dis(t.plate, prev.plate)
        valid = occlusion_mask(fore, back)
        reach = outline_reach(*back.shape[:2]) if self.outline_reach is None else self.outline_reach
        return _Link(back, fore, kind, valid, valid & ~outline_band(back, fore, reach))

    @staticmethod
    def _chain(entries: list[_Entry]) -> _Chain:
        """Chain the links of ``entries`` (oldest first) from the newest frame back to the one
        streamed before ``entries[0]``."""
        first = entries[0].link
        chain = _Chain(first.back, first.fore, {first.kind}, 1, first.valid, first.valid_layer)
        for e in entries[1:]:
            chain.extend(e.link)
        return chain

    @staticmethod
    def _measure(t: _Entry, s: _Entry, chain: _Chain) -> PairError:
        # one link: its own occlusion mask is `visible` already
        ends = (
            np.ones(chain.visible.shape, bool) if chain.links == 1 else occlusion_mask(chain.fore, chain.back)
        )
        valid = ends & chain.visible
        layered = ends & chain.visible_layer
        out_err = warp_error(t.output, s.output, chain.back, valid)
        plate_err = warp_error(t.plate, s.plate, chain.back, valid)
        out_lp = warp_error(t.output_lp, s.output_lp, chain.back, layered)
        plate_lp = warp_error(t.plate_lp, s.plate_lp, chain.back, layered)
        return PairError(
            other=s.number,
            output=out_err,
            plate=plate_err,
            ratio=warp_ratio(out_err, plate_err),
            valid_fraction=float(valid.mean()),
            flow=chain.kind,
            links=chain.links,
            output_lowpass=out_lp,
            plate_lowpass=plate_lp,
            ratio_lowpass=warp_ratio(out_lp, plate_lp),
        )

    def summary(self) -> dict[str, TermSummary]:
        return summarise(self._frames, long_k=self.long_k, run_pairs=self.run_pairs)


def _lowpass_measured(pair: PairError) -> bool:
    return math.isfinite(pair.output_lowpass) and math.isfinite(pair.plate_lowpass)


def worst_run(pairs: list[tuple[int, PairError]], run_pairs: int) -> tuple[float, tuple[int, int] | None]:
    """The highest low-passed ratio of ``run_pairs`` consecutive pairs, their errors pooled
    (mean output over mean plate, as for the whole shot), and the run's first and last frame.
    With fewer pairs than that, the whole sequence is the run."""
    measured = [(n, p) for n, p in pairs if _lowpass_measured(p)]
    if not measured:
        return math.nan, None
    n = min(run_pairs, len(measured))
    best: tuple[float, tuple[int, int] | None] = (-math.inf, None)
    for start in range(len(measured) - n + 1):
        window = measured[start : start + n]
        ratio = warp_ratio(
            float(np.mean([p.output_lowpass for _, p in window])),
            float(np.mean([p.plate_lowpass for _, p in window])),
        )
        if ratio > best[0]:
            best = (ratio, (window[0][0], window[-1][0]))
    return best


def summarise(
    frames: Iterable[FrameTemporal], *, long_k: int = LONG_K, run_pairs: int = RUN_PAIRS
) -> dict[str, TermSummary]:
    """Per-term means and ratios over ``frames`` (pairs without valid pixels are left out)."""
    frames = list(frames)
    result: dict[str, TermSummary] = {}
    for term, k in zip(TERMS, (1, long_k, None), strict=True):
        pairs = [
            (f.frame, p)
            for f in frames
            if (p := getattr(f, term)) is not None and math.isfinite(p.output) and math.isfinite(p.plate)
        ]
        if not pairs:
            result[term] = TermSummary(term, k, 0, math.nan, math.nan, math.nan, math.nan, None)
            continue
        out_mean = float(np.mean([p.output for _, p in pairs]))
        plate_mean = float(np.mean([p.plate for _, p in pairs]))
        worst_frame, worst = max(pairs, key=lambda fp: fp[1].ratio)
        lp = [(n, p) for n, p in pairs if _lowpass_measured(p)]
        out_lp = float(np.mean([p.output_lowpass for _, p in lp])) if lp else math.nan
        plate_lp = float(np.mean([p.plate_lowpass for _, p in lp])) if lp else math.nan
        worst_lp_frame, worst_lp = max(lp, key=lambda fp: fp[1].ratio_lowpass) if lp else (None, None)
        run_ratio, run_frames = worst_run(pairs, run_pairs)
        result[term] = TermSummary(
            term=term,
            k=k,
            pairs=len(pairs),
            output=out_mean,
            plate=plate_mean,
            ratio=warp_ratio(out_mean, plate_mean),
            worst_ratio=worst.ratio,
            worst_frame=worst_frame,
            flow_sources=tuple(sorted({p.flow for _, p in pairs})),
            output_lowpass=out_lp,
            plate_lowpass=plate_lp,
            ratio_lowpass=warp_ratio(out_lp, plate_lp),
            worst_lowpass_ratio=worst_lp.ratio_lowpass if worst_lp is not None else math.nan,
            worst_lowpass_frame=worst_lp_frame,
            worst_run_ratio=run_ratio,
            worst_run_frames=run_frames,
            run_pairs=min(run_pairs, len(lp)),
        )
    return result


def temporal_stability(
    frames: Iterable[tuple[int, np.ndarray, np.ndarray]]
    | Iterable[tuple[int, np.ndarray, np.ndarray, Mapping[str, np.ndarray]]],
    *,
    long_k: int = LONG_K,
    anchor: tuple[int, np.ndarray, np.ndarray] | None = None,
    preset: str = "medium",
    lowpass_sigma: float = LOWPASS_SIGMA,
) -> tuple[list[FrameTemporal], dict[str, TermSummary]]:
    """Measure a whole sequence: ``frames`` yields ``(number, plate, output[, aovs])`` in order.

    Any iterable works (a generator that reads frames lazily keeps memory to the window).
    """
    acc = TemporalStability(long_k=long_k, anchor=anchor, preset=preset, lowpass_sigma=lowpass_sigma)
    for item in frames:
        number, plate, output = item[0], item[1], item[2]
        aovs = item[3] if len(item) > 3 else None
        acc.add(number, plate, output, aovs=aovs)
    return acc.frames, acc.summary()
