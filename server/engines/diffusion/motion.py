"""Plate motion between the frame being restyled and the last restyled one, for flow-guided fusion.

The plate's own motion vectors win (a renderer knows the true motion): consecutive backward vectors
are chained from the current frame back to the reference frame, forward ones the other way for the
occlusion check. Without vectors (or across a frame step the vectors do not describe), the flow is
estimated with OpenCV DIS directly between the two frames, on copies no larger than `estimate_side`
pixels (the fusion acts in the 1/8-resolution latent, so finer flow buys nothing). Pure numpy/OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylelock.core import flow as coreflow
from stylelock.server.engines.base import ModelFrame


@dataclass
class _Seen:
    number: int
    small: np.ndarray
    backward: np.ndarray | None
    forward: np.ndarray | None


class MotionTracker:
    """Remembers the frames since the reference and answers the flow from a frame to the reference."""

    def __init__(self, estimate_side: int = 512, preset: str = "medium") -> None:
        self.estimate_side = estimate_side
        self.preset = preset
        self._seen: dict[int, _Seen] = {}
        self._order: list[int] = []
        self.sources: set[str] = set()

    def remember(self, frame: ModelFrame) -> None:
        if frame.number in self._seen:
            return
        self._seen[frame.number] = _Seen(
            number=frame.number,
            small=_shrink(frame.rgb, self.estimate_side),
            backward=coreflow.flow_from_vectors(frame.aovs, "backward", scale=frame.scale),
            forward=coreflow.flow_from_vectors(frame.aovs, "forward", scale=frame.scale),
        )
        self._order.append(frame.number)

    def forget_before(self, number: int) -> None:
        """Drop frames older than `number` (the new reference)."""
        keep = self._order.index(number) if number in self._order else 0
        for old in self._order[:keep]:
            del self._seen[old]
        self._order = self._order[keep:]

    def flow_to(self, src: int, dst: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(flow, valid): flow (h, w, 2) on `src`'s grid pointing into `dst`, and where it can be trusted.

        `shape` is the full (h, w) of the frames; an estimated flow is scaled up to it.
        """
        chain = self._chain(src, dst)
        if chain is not None:
            backward, forward = chain
            valid = coreflow.occlusion_mask(forward, backward) if forward is not None else _inside(backward)
            self.sources.add("vectors")
            return backward, valid
        self.sources.add(f"estimated:dis-{self.preset}")
        a, b = self._seen[src].small, self._seen[dst].small
        backward = coreflow.estimate_flow(a, b, preset=self.preset)
        forward = coreflow.estimate_flow(b, a, preset=self.preset)
        valid = coreflow.occlusion_mask(forward, backward)
        return _grow_flow(backward, shape), _grow_mask(valid, shape)

    def _chain(self, src: int, dst: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Chain consecutive vectors from src back to dst; None when a link is missing."""
        if src <= dst or dst not in self._seen:
            return None
        steps = list(range(src, dst, -1))
        if any(n not in self._seen or self._seen[n].backward is None for n in steps):
            return None
        backward = self._seen[src].backward
        for n in steps[1:]:
            backward = backward + coreflow.warp(self._seen[n].backward, backward)
        forward_links = list(range(dst, src))
        if any(self._seen[n].forward is None for n in forward_links):
            return backward, None
        forward = self._seen[dst].forward
        for n in forward_links[1:]:
            forward = forward + coreflow.warp(self._seen[n].forward, forward)
        return backward, forward


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    factor = min(1.0, side / max(h, w))
    if factor >= 1.0:
        return np.ascontiguousarray(rgb, dtype=np.float32)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), size, interpolation=cv2.INTER_AREA)


def _grow_flow(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = shape
    if flow.shape[:2] == (h, w):
        return flow
    sx, sy = w / flow.shape[1], h / flow.shape[0]
    grown = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    grown[..., 0] *= sx
    grown[..., 1] *= sy
    return grown


def _grow_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = shape
    if mask.shape == (h, w):
        return mask
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def _inside(flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    tx = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    ty = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    return (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
