"""Plate motion between the frame being restyled and the last restyled one, for flow-guided fusion.

Motion is known between neighbouring frames of the job and chained across several. The plate's own
motion vectors win (a renderer knows the true motion); without them (or across a frame step the
vectors do not describe) each link is estimated with OpenCV DIS in both directions, on copies no
larger than `estimate_side` pixels (the fusion acts in the 1/8-resolution latent, so finer flow buys
nothing). Forward links give the forward-backward occlusion check. Pure numpy/OpenCV.
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
    link: tuple[np.ndarray, np.ndarray | None] | None = None
    """(flow to the previous frame on this grid, flow of the previous frame to this one) once known."""


class MotionTracker:
    """Remembers the frames since the reference and answers the flow from a frame to the reference.

    Flows between frames further apart are chained from the links between neighbours in the job's
    order (chaining beat a direct estimate across several frames, as `stylelock qc` measured).
    """

    def __init__(self, estimate_side: int = 512, preset: str = "medium") -> None:
        self.estimate_side = estimate_side
        self.preset = preset
        self._seen: list[_Seen] = []
        self.sources: set[str] = set()

    def remember(self, frame: ModelFrame) -> None:
        if any(seen.number == frame.number for seen in self._seen):
            return
        self._seen.append(
            _Seen(
                number=frame.number,
                small=_shrink(frame.rgb, self.estimate_side),
                backward=coreflow.flow_from_vectors(frame.aovs, "backward", scale=frame.scale),
                forward=coreflow.flow_from_vectors(frame.aovs, "forward", scale=frame.scale),
            )
        )

    def clear(self) -> None:
        """Forget every frame (a new chain starts: no motion links back across it)."""
        self._seen = []

    def forget_before(self, number: int) -> None:
        """Drop frames older than `number` (the new reference)."""
        keep = self._position(number)
        if keep is not None:
            self._seen = self._seen[keep:]

    def flow_to(self, src: int, dst: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(flow, valid): flow (h, w, 2) on `src`'s grid pointing into `dst`, and where it can be trusted.

        `dst` comes before `src` in the job's order; `shape` is the full (h, w) of the frames.
        """
        ps, pd = self._position(src), self._position(dst)
        if ps is None or pd is None or ps <= pd:
            raise ValueError(f"no motion known from frame {src} back to frame {dst}")
        backward, forward = self._link(ps, shape)
        for k in range(ps - 1, pd, -1):
            backward = backward + coreflow.warp(self._link(k, shape)[0], backward)
        forwards = [self._link(k, shape)[1] for k in range(pd + 1, ps + 1)]
        if any(f is None for f in forwards):
            return backward, coreflow.inside_mask(backward)
        forward = forwards[0]
        for link in forwards[1:]:
            forward = forward + coreflow.warp(link, forward)
        return backward, coreflow.occlusion_mask(forward, backward)

    def _position(self, number: int) -> int | None:
        return next((i for i, seen in enumerate(self._seen) if seen.number == number), None)

    def _link(self, k: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
        """(backward flow of frame k to k-1, forward flow of k-1 to k), from vectors or estimated."""
        seen, before = self._seen[k], self._seen[k - 1]
        if seen.link is None:
            consecutive = seen.number == before.number + 1
            if consecutive and seen.backward is not None:
                seen.link = (seen.backward, before.forward)
                self.sources.add("vectors")
            else:
                backward, forward = coreflow.estimate_flows(seen.small, before.small, preset=self.preset)
                seen.link = (resize_flow(backward, shape), resize_flow(forward, shape))
                self.sources.add(f"estimated:dis-{self.preset}")
        return seen.link


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    factor = min(1.0, side / max(h, w))
    if factor >= 1.0:
        return np.ascontiguousarray(rgb, dtype=np.float32)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), size, interpolation=cv2.INTER_AREA)


def resize_flow(flow: np.ndarray, hw: tuple[int, int], interpolation: str = "linear") -> np.ndarray:
    """A flow (H, W, 2) resampled to the (h, w) grid, its vectors rescaled to that grid's pixels.

    `interpolation` is "linear" (growing a flow estimated on shrunken frames) or "area" (shrinking a
    pixel flow onto the latent grid). A flow already on the grid comes back as it is.
    """
    import cv2

    h, w = hw
    if flow.shape[:2] == (h, w):
        return flow
    modes = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}
    sx, sy = w / flow.shape[1], h / flow.shape[0]
    resized = cv2.resize(
        np.ascontiguousarray(flow, dtype=np.float32), (w, h), interpolation=modes[interpolation]
    )
    resized[..., 0] *= sx
    resized[..., 1] *= sy
    return resized
