"""Where the motion comes from: the plate's own motion vectors, or OpenCV DIS flow.

A 3D render's vectors are exact, so `auto` prefers them whenever both frames of a pair carry them
and falls back to an estimate otherwise. Whatever is used is logged once per change of source.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np

from stylelock.core import flow as coreflow
from stylelock.core.errors import SpecError
from stylelock.server.engines.base import ModelFrame

FLOW_MODES = ("auto", "vectors", "estimated")
#: Memory the flow cache may hold (see `FlowProvider.hold`).
FLOW_CACHE_BYTES = 512 * 2**20


class FlowProvider:
    """Flows between neighbouring plate frames, in `stylelock.core.flow`'s convention."""

    def __init__(self, mode: str, preset: str, log: logging.Logger | logging.LoggerAdapter, cache: int = 4):
        if mode not in FLOW_MODES:
            raise SpecError(f"keyframe: flow={mode!r} is not one of {', '.join(FLOW_MODES)}")
        self.mode = mode
        self.preset = preset
        self.log = log
        self._last_kind: str | None = None
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._from_vectors: set[tuple[int, int]] = set()
        self._cache_size = cache

    def hold(self, pairs: int, frame_size: tuple[int, int]) -> None:
        """Keep up to `pairs` flow pairs (within `FLOW_CACHE_BYTES`): between two keyframes the
        backward pass computes every pair of the segment and the forward pass asks for them again."""
        w, h = frame_size
        affordable = FLOW_CACHE_BYTES // (4 * 4 * w * h)  # two (h, w, 2) float32 flows a pair
        self._cache_size = max(self._cache_size, min(pairs, affordable))

    def pair(self, a: ModelFrame, b: ModelFrame) -> tuple[np.ndarray, np.ndarray]:
        """(flow a -> b on a's grid, flow b -> a on b's grid) for neighbouring frames a and b."""
        cached = self._cache.get((a.number, b.number))
        if cached is not None:
            return cached
        swapped = self._cache.get((b.number, a.number))
        if swapped is not None:
            return swapped[1], swapped[0]
        result = self._compute(a, b)
        self._cache[(a.number, b.number)] = result
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def exact(self, a: ModelFrame, b: ModelFrame) -> bool:
        """Whether the flows of the pair a, b are the plate's own vectors (exact layer edges)."""
        self.pair(a, b)
        return (a.number, b.number) in self._from_vectors or (b.number, a.number) in self._from_vectors

    def _compute(self, a: ModelFrame, b: ModelFrame) -> tuple[np.ndarray, np.ndarray]:
        ab_dir, ba_dir = ("forward", "backward") if b.number > a.number else ("backward", "forward")
        if self.mode != "estimated":
            ab = coreflow.flow_from_vectors(a.aovs, ab_dir, scale=a.scale)
            ba = coreflow.flow_from_vectors(b.aovs, ba_dir, scale=b.scale)
            if ab is not None and ba is not None:
                source = coreflow.vectors_source(a.aovs, ab_dir)
                self._note(source.kind if source else "vectors")
                self._from_vectors.add((a.number, b.number))
                return ab, ba
            if self.mode == "vectors":
                missing, direction = (a.number, ab_dir) if ab is None else (b.number, ba_dir)
                raise SpecError(
                    f"keyframe: flow=vectors but frame {missing} carries no {direction} motion vectors "
                    "(looked for forward.u/v, backward.u/v and Vector.X/Y/Z/W)"
                )
        self._note(coreflow.FlowSource.estimated(self.preset).kind)
        return coreflow.estimate_flows(a.rgb, b.rgb, preset=self.preset)

    def _note(self, kind: str) -> None:
        if kind != self._last_kind:
            self._last_kind = kind
            self.log.info("keyframe: motion from %s", kind)
