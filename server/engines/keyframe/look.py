"""Turning a look image (a painting, a reference frame) into a keyframe of the shot.

The look image is not a paint-over of any plate frame, so there is nothing to carry yet: first
its texture and palette are transferred onto one plate frame by a guided synthesis whose guides
are luminance and edges (the look image's own, its luminance remapped to the plate's range, on
the source side; the plate frame's on the target side), starting from a random field and running
the full pyramid with the uniformity term so the whole picture's texture gets used. The result is
then carried through the shot exactly like a painted keyframe.
"""

from __future__ import annotations

import numpy as np

from stylelock.server.engines.base import ModelFrame, StyleFrame
from stylelock.server.engines.keyframe import rng
from stylelock.server.engines.keyframe.backend import Backend
from stylelock.server.engines.keyframe.guides import (
    GuideWeights,
    channel_scale,
    look_guides,
    luma,
    match_luminance,
    max_levels,
    resize,
)
from stylelock.server.engines.keyframe.synth import Schedule, build_source, synthesize


def fit_look(rgb: np.ndarray, plate_w: int, plate_h: int) -> np.ndarray:
    """Scale a look image so it has at most the plate's pixel count (texture scale comparable to
    the plate's, and a bounded cost), keeping its aspect ratio."""
    h, w = rgb.shape[:2]
    scale = min(1.0, float(np.sqrt((plate_w * plate_h) / float(w * h))))
    if scale >= 1.0:
        return rgb.astype(np.float32)
    return resize(rgb.astype(np.float32), max(1, round(w * scale)), max(1, round(h * scale)))


def synthesize_look(
    backend: Backend,
    look: StyleFrame,
    plate: ModelFrame,
    weights: GuideWeights,
    sched: Schedule,
    seed: int,
    iterations: int,
    cancelled=lambda: False,
) -> np.ndarray | None:
    """The plate frame restyled with the look image's texture and palette, (h, w, 3) float32."""
    h, w = plate.rgb.shape[:2]
    style = fit_look(look.rgb[..., :3], w, h)
    target_lum = luma(plate.rgb)
    source_lum = match_luminance(luma(style), target_lum)
    levels = max_levels([(w, h), (style.shape[1], style.shape[0])], sched.patch)
    full = Schedule(
        patch=sched.patch,
        levels=levels,
        search_vote=iterations,
        fine_search_vote=max(1, iterations // 2),
        patchmatch=2,
        radius=0,
        uniformity=sched.uniformity,
    )
    style_scale = channel_scale(weights.style, 3)
    source = build_source(backend, look_guides(source_lum, weights), style, style_scale, levels, sched.patch)
    result = synthesize(
        backend,
        source,
        look_guides(target_lum, weights),
        full,
        rng.mix(seed, plate.number, 0x100C),
        style_scale=style_scale,
        cancelled=cancelled,
    )
    if result is None:
        return None
    return np.clip(result.style, 0.0, 1.0)
