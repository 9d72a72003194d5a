"""Guided patch synthesis on an image pyramid: PatchMatch with search-vote iterations.

This is the core of EbSynth (Jamriska et al. 2015/2019), written for video speed: a frame
carried from a keyframe starts from the previous frame's correspondence field moved along the
flow, and at every level keeps, per pixel, the better of that field and the one refined at the
coarser level; so most of the search happens at coarse levels and one or two sweeps at full
resolution settle the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stylelock.server.engines.keyframe import rng
from stylelock.server.engines.keyframe.backend import Backend
from stylelock.server.engines.keyframe.guides import level_size, resize


@dataclass(frozen=True)
class Schedule:
    patch: int = 5
    levels: int = 3
    search_vote: int = 2
    """Search-vote iterations at each coarser level."""
    fine_search_vote: int = 1
    """Search-vote iterations at full resolution (the expensive ones)."""
    patchmatch: int = 2
    """PatchMatch sweeps per search-vote iteration."""
    radius: int = 0
    """Largest random-search radius in pixels of each level; 0 searches the whole source."""
    uniformity: float = 3500.0


@dataclass
class SourceLevel:
    src: Any
    """(hs + 2r, ws + 2r, C) weighted guides and style, on the backend."""
    style: Any
    """(hs + 2r, ws + 2r, S) style in [0, 1], on the backend (what is voted)."""
    w: int
    h: int


@dataclass
class SynthResult:
    nnf: np.ndarray
    """(h, w, 2) int32 source pixel of each target pixel's patch."""
    error: np.ndarray
    """(h, w) float32 patch distance of each target pixel."""
    style: np.ndarray
    """(h, w, S) float32 voted style (whole-pixel field)."""
    field: np.ndarray | None = None
    """(h, w, 2) float32 sub-pixel field, when a track was given (see `synthesize`)."""
    exact: np.ndarray | None = None
    """(h, w) bool: pixels that continue the track."""


def build_source(
    backend: Backend, guides: np.ndarray, style: np.ndarray, style_scale: float, levels: int, patch: int
) -> list[SourceLevel]:
    """The source side of every pyramid level. ``guides`` are already weighted; the style is
    scaled by ``style_scale`` for matching and kept as it is for voting."""
    r = patch // 2
    h, w = style.shape[:2]
    out = []
    for lev in range(levels):
        lw, lh = level_size(w, h, lev)
        g = resize(guides, lw, lh)
        s = resize(style, lw, lh)
        src = backend.pad(backend.asarray(np.concatenate([g, s * np.float32(style_scale)], axis=2)), r)
        out.append(SourceLevel(src=src, style=backend.pad(backend.asarray(s), r), w=lw, h=lh))
    return out


def identity_nnf(h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.ascontiguousarray(np.stack([xs, ys], axis=-1).astype(np.int32))


def random_nnf(h: int, w: int, hs: int, ws: int, key: int) -> np.ndarray:
    pixel = np.arange(h * w, dtype=np.uint64)
    x = (rng.draw(key, pixel, 0) % np.uint64(ws)).astype(np.int32)
    y = (rng.draw(key, pixel, 1) % np.uint64(hs)).astype(np.int32)
    return np.ascontiguousarray(np.stack([x, y], axis=-1).reshape(h, w, 2))


def downsample_nnf(nnf: np.ndarray, level: int, tw: int, th: int, ws: int, hs: int) -> np.ndarray:
    """A full-resolution field seen at pyramid `level` (target tw x th, source ws x hs)."""
    if level == 0:
        return np.ascontiguousarray(nnf)
    f = 2**level
    ys = np.minimum(np.arange(th) * f + f // 2, nnf.shape[0] - 1)
    xs = np.minimum(np.arange(tw) * f + f // 2, nnf.shape[1] - 1)
    n = nnf[ys][:, xs] // f
    n[..., 0] = np.clip(n[..., 0], 0, ws - 1)
    n[..., 1] = np.clip(n[..., 1], 0, hs - 1)
    return np.ascontiguousarray(n.astype(np.int32))


def upsample_nnf(nnf: np.ndarray, tw: int, th: int, ws: int, hs: int) -> np.ndarray:
    """Each coarse correspondence covers 2 x 2 finer pixels, offset to keep their arrangement."""
    ys = np.arange(th)
    xs = np.arange(tw)
    n = 2 * nnf[np.minimum(ys // 2, nnf.shape[0] - 1)][:, np.minimum(xs // 2, nnf.shape[1] - 1)]
    n[..., 0] += (xs % 2)[None, :]
    n[..., 1] += (ys % 2)[:, None]
    n[..., 0] = np.clip(n[..., 0], 0, ws - 1)
    n[..., 1] = np.clip(n[..., 1], 0, hs - 1)
    return np.ascontiguousarray(n.astype(np.int32))


def radii_for(ws: int, hs: int, limit: int) -> list[int]:
    top = max(ws, hs)
    if limit > 0:
        top = min(top, limit)
    out = []
    while top >= 1:
        out.append(int(top))
        top //= 2
    return out


class _Target:
    """The target side of one level: fixed guides, plus the style estimate blended with the
    temporal guide (previous output warped by the flow, trusted where the flow is)."""

    def __init__(self, backend, guides, temporal, valid, style_scale, temporal_mix, r):
        self.backend = backend
        self.guides = backend.asarray(guides)
        self.temporal = None if temporal is None else backend.asarray(temporal)
        self.mix = None
        self.valid = None
        if temporal is not None and valid is not None:
            self.valid = backend.asarray(np.ascontiguousarray(valid[..., None], dtype=np.float32))
            if temporal_mix > 0:
                self.mix = self.valid * float(temporal_mix)
        self.scale = float(style_scale)
        self.r = r

    def predict(self, voted):
        """The temporal guide where it can be trusted, ``voted`` elsewhere."""
        if self.temporal is None or self.valid is None:
            return voted
        return voted + self.valid * (self.temporal - voted)

    def build(self, estimate):
        # a(A - S)^2 + b(B - S)^2 = (a + b)(S - (aA + bB)/(a + b))^2 + const: the style and temporal
        # terms become one target at weight a + b, exact for the search.
        style = estimate if self.mix is None else estimate + self.mix * (self.temporal - estimate)
        return self.backend.pad(self.backend.concat([self.guides, style * self.scale]), self.r)


def synthesize(
    backend: Backend,
    source: list[SourceLevel],
    guides: np.ndarray,
    sched: Schedule,
    key: int,
    *,
    style_scale: float,
    temporal: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    temporal_mix: float = 0.0,
    init: np.ndarray | None = None,
    track: np.ndarray | None = None,
    track_trust: np.ndarray | None = None,
    track_age: np.ndarray | None = None,
    cancelled=lambda: False,
) -> SynthResult | None:
    """Synthesize the target described by ``guides`` (h, w, G, weighted) from ``source``.

    ``init`` is a full-resolution correspondence field to start from (the previous frame's, moved
    by the flow); without it the coarsest level starts at random. ``temporal`` (h, w, S) is the
    temporal guide, ``valid`` (h, w) where it can be trusted and ``temporal_mix`` its share of the
    style term. ``track`` (h, w, 2) is the previous frame's sub-pixel field carried by the flow,
    ``track_trust`` where the motion explains the plate's change and ``track_age`` for how many
    frames each pixel has continued its track (see `_continue_track`). Returns None when
    ``cancelled()`` turns true between sweeps.
    """
    p = sched.patch
    r = p // 2
    h, w = guides.shape[:2]
    levels = max(1, min(sched.levels, len(source)))
    nnf_np: np.ndarray | None = None
    result = None
    for lev in range(levels - 1, -1, -1):
        src = source[lev]
        tw, th = level_size(w, h, lev)
        target = _Target(
            backend,
            resize(guides, tw, th),
            None if temporal is None else resize(temporal, tw, th),
            None if valid is None else resize(valid.astype(np.float32), tw, th),
            style_scale,
            temporal_mix,
            r,
        )
        seeds = []
        if nnf_np is not None:
            seeds.append(upsample_nnf(nnf_np, tw, th, src.w, src.h))
        if init is not None:
            seeds.append(downsample_nnf(init, lev, tw, th, src.w, src.h))
        if not seeds:
            seeds.append(random_nnf(th, tw, src.h, src.w, rng.mix(key, lev, 0xA11)))
        nnf = backend.asarray(seeds[0])
        # The first style estimate is the previous output carried by the flow where the flow is
        # trusted (the best prediction of this frame), the vote of the starting field elsewhere.
        estimate = target.predict(backend.vote(src.style, nnf, r))
        tgt = target.build(estimate)
        err = backend.patch_errors(tgt, src.src, nnf, p)
        if len(seeds) == 2:
            # keep, pixel by pixel, whichever start matches better: the refined coarse field or
            # the previous frame's field carried by the flow (both judged on the same target)
            other = backend.asarray(seeds[1])
            other_err = backend.patch_errors(tgt, src.src, other, p)
            keep = other_err < err
            nnf = backend.where(keep[..., None], other, nnf)
            err = backend.where(keep, other_err, err)
        omega_best = (tw * th) / float(src.w * src.h) * p * p
        radii = radii_for(src.w, src.h, sched.radius)
        rounds = sched.fine_search_vote if lev == 0 else sched.search_vote
        first_tgt = tgt
        no_occupancy = None if sched.uniformity > 0 else backend.asarray(np.zeros((src.h, src.w), np.float32))
        for it in range(rounds):
            if it > 0:
                tgt = target.build(estimate)
                err = backend.patch_errors(tgt, src.src, nnf, p)
            for k in range(sched.patchmatch):
                if cancelled():
                    return None
                if no_occupancy is None:
                    occ = backend.occupancy(nnf, src.h, src.w, p, omega_best)
                else:
                    occ = no_occupancy
                nnf, err = backend.sweep(
                    tgt, src.src, nnf, err, occ, sched.uniformity, p, radii, rng.mix(key, lev, it, k)
                )
            estimate = backend.vote(src.style, nnf, r)
        nnf_np = backend.numpy(nnf)
        if lev == 0:
            result = SynthResult(nnf=nnf_np, error=backend.numpy(err), style=backend.numpy(estimate))
            if track is not None:
                # one round: the sweeps' own errors are already the field's errors on the first
                # target (recomputing them is a full-resolution pass, ~6 % of a frame)
                known = result.error if rounds == 1 else None
                result = _continue_track(
                    backend, result, first_tgt, src, nnf, track, track_trust, p, best=known, age=track_age
                )
    return result


#: A track is kept unless the best new patch is better than its error / TRACK_FACTOR minus a margin
#: per patch pixel (in EbSynth's error units, about a 2/255 colour difference at colour weight 6).
TRACK_FACTOR = 1.5
TRACK_MARGIN = 40.0
#: A track that has held for a few frames has settled: the factor grows by TRACK_SETTLING a frame
#: of its age, up to TRACK_FACTOR_SETTLED (see `_continue_track`).
TRACK_SETTLING = 0.5
TRACK_FACTOR_SETTLED = 2.5


def track_factor(age: np.ndarray) -> np.ndarray:
    """How much better than a track a new patch must be to replace it, by the track's age in frames.

    Paint the keyframe never showed (background an object uncovers, content a camera move brings
    in) is copied from elsewhere, and its first copy comes from a short search; on the following
    frames the search goes on and keeps finding somewhat better patches (on the photo plate, 2-4 %
    of such pixels a frame, the new patch 1.6-1.8 times better). Each replacement changes the
    paint of the pixel and, through the vote's overlapping patches, of its neighbours: over ten
    frames most of that background changed while the plate did not (its long-term error was 10-30
    times the plate's). So a young track is judged as before, letting the first frames correct the
    first copy, and a settled one stays unless the plate stops explaining it (an untrusted track
    is still replaced by any better patch). Which tracks age at all is the pass's call
    (`propagate.Pass`: copied paint away from moving edges). Measured on the photo plate with the
    atlas's margin: long-term ratio 1.74 -> 1.36 (worst run 2.34 -> 1.68); a settled factor of 4
    measured worse (1.42), so did settling at once (1.45 at factor 2 from the second frame)."""
    return np.minimum(TRACK_FACTOR + TRACK_SETTLING * np.asarray(age, np.float32), TRACK_FACTOR_SETTLED)


def _continue_track(backend, result, tgt, src, nnf, track, trust, p, *, best=None, age=None) -> SynthResult:
    """Keep the carried sub-pixel track wherever it matches about as well as the search's best
    (both judged on the same target, the track at its exact position). `best` is the search's
    patch errors on `tgt` when already known; `age` (h, w) the frames each track has held."""
    if best is None:
        best = backend.numpy(backend.patch_errors(tgt, src.src, nnf, p))
    carried = backend.numpy(backend.patch_errors_float(tgt, src.src, backend.asarray(track), p))
    # a little hysteresis: a new patch must be clearly better to break a track (re-synthesizing
    # texture that is still visible is what reads as flicker)
    factor = TRACK_FACTOR if age is None else track_factor(age)
    lenient = factor * best + TRACK_MARGIN * p * p
    keep = carried <= (lenient if trust is None else np.where(trust, lenient, best))
    whole = np.stack(
        [np.clip(np.rint(track[..., 0]), 0, src.w - 1), np.clip(np.rint(track[..., 1]), 0, src.h - 1)], -1
    )
    nnf_np = np.where(keep[..., None], whole.astype(np.int32), result.nnf)
    field = np.where(keep[..., None], track, result.nnf.astype(np.float32))
    return SynthResult(
        nnf=np.ascontiguousarray(nnf_np, dtype=np.int32),
        error=np.where(keep, carried, best).astype(np.float32),
        style=result.style,
        field=np.ascontiguousarray(field, dtype=np.float32),
        exact=np.ascontiguousarray(keep),
    )
