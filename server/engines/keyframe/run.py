"""One restyle job of the keyframe engine: keyframes, passes, merging, chunk warm-up.

Each output frame depends only on the plate, its governing keyframes (the nearest one before it
and the nearest one after it) and the chain of plate frames between them and it. A job that
starts mid-way (a farm chunk, a resumed job) therefore re-runs, without yielding, the forward
pass from the keyframe before its first frame and the backward pass from the keyframe after it,
reading those frames with `shot.load_frame`, and then matches the unchunked run bit for bit.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

import numpy as np

from stylelock.core.errors import PlateMismatchError, SpecError
from stylelock.server.engines.base import ModelFrame, ShotContext, StyleFrame
from stylelock.server.engines.keyframe.backend import make_backend
from stylelock.server.engines.keyframe.blend import merge
from stylelock.server.engines.keyframe.flowsrc import FlowProvider
from stylelock.server.engines.keyframe.guides import GuideWeights, max_levels
from stylelock.server.engines.keyframe.look import synthesize_look
from stylelock.server.engines.keyframe.propagate import Keyframe, Pass, PassFrame, Settings
from stylelock.server.engines.keyframe.synth import Schedule


def settings_from(params: Mapping[str, Any], shot: ShotContext, size: tuple[int, int]) -> Settings:
    patch = int(params["patch_size"])
    if patch % 2 == 0:
        raise SpecError(f"keyframe: patch_size={patch} must be odd (3, 5, 7, ...)")
    device = str(params["device"])  # `KeyframeEngine.restyle` has already resolved auto to its CUDA device
    sched = Schedule(
        patch=patch,
        levels=min(int(params["levels"]), max_levels([size], patch)),
        search_vote=int(params["search_vote_iters"]),
        fine_search_vote=int(params["fine_iters"]),
        patchmatch=int(params["patchmatch_iters"]),
        radius=int(params["search_radius"]),
        uniformity=float(params["uniformity"]),
    )
    weights = GuideWeights(
        colour=float(params["colour_weight"]),
        edges=float(params["edge_weight"]),
        positional=float(params["positional_weight"]),
        temporal=float(params["temporal_weight"]),
        estimated_temporal=float(params["estimated_temporal_weight"]),
        style=float(params["style_weight"]),
    )
    backend = make_backend(device, log_to=shot.log)
    shot.log.info("keyframe: %s mode on %s", params["mode"], backend.name)
    return Settings(
        backend=backend,
        flows=FlowProvider(str(params["flow"]), str(params["flow_preset"]), shot.log),
        sched=sched,
        weights=weights,
        mode=str(params["mode"]),
        seed=int(params["seed"]),
        threshold=float(params["styleblit_threshold"]),
        cancelled=shot.is_cancelled,
    )


class KeyframeRun:
    """Renders the frames of one job, in any order, each exactly as an unchunked run would."""

    def __init__(self, shot: ShotContext, params: Mapping[str, Any]) -> None:
        self.shot = shot
        self.params = params
        self.settings: Settings | None = None
        self.keys: dict[int, Keyframe] = {}
        self.order: list[int] = []
        self.fwd: Pass | None = None
        self.bwd: Pass | None = None
        self.bwd_frames: dict[int, PassFrame] = {}
        self.current: ModelFrame | None = None

    # -- plate access ------------------------------------------------------------------------
    def plate(self, number: int) -> ModelFrame:
        if self.current is not None and self.current.number == number:
            return self.current
        if number in self.keys:
            return self.keys[number].plate
        return self.shot.load_frame(number)

    # -- keyframes ---------------------------------------------------------------------------
    def _setup(self, first: ModelFrame) -> bool:
        h, w = first.rgb.shape[:2]
        self.settings = settings_from(self.params, self.shot, (w, h))
        paints = [s for s in self.shot.styles if s.frame is not None]
        looks = [s for s in self.shot.styles if s.frame is None]
        if not paints and not looks:
            raise SpecError("keyframe engine needs a style: a painted keyframe (FRAME=PATH) or a look image")
        with_alpha = any(s.alpha is not None for s in paints)
        for style in paints:
            if style.frame in self.keys:
                raise SpecError(f"keyframe: two painted keyframes for frame {style.frame}")
            if style.rgb.shape[:2] != (h, w):
                raise PlateMismatchError(
                    f"painted keyframe {style.frame} is {style.rgb.shape[1]}x{style.rgb.shape[0]} "
                    f"but the plate frames are {w}x{h}"
                )
            self.keys[style.frame] = Keyframe(
                style.frame, _style_channels(style, with_alpha), self.plate(style.frame)
            )
        if paints and looks:
            self.shot.warn("keyframe: painted keyframes given, so the look image(s) are not used")
        if not paints:
            if len(looks) > 1:
                self.shot.warn("keyframe: several look images given; only the first is used")
            anchor = int(self.params["look_frame"])
            if anchor == -1:  # the plate's first frame: the same for every chunk of the shot
                shot_frames = self.shot.plate_or_job_frames
                anchor = shot_frames[0] if shot_frames else first.number
            plate = self.plate(anchor)
            self.shot.log.info("keyframe: transferring the look image onto frame %d", anchor)
            styled = synthesize_look(
                self.settings.backend,
                looks[0],
                plate,
                self.settings.weights,
                self.settings.sched,
                self.settings.seed,
                int(self.params["look_iters"]),
                self.shot.is_cancelled,
            )
            if styled is None:
                return False
            self.keys[anchor] = Keyframe(anchor, styled, plate)
        self.order = sorted(self.keys)
        gaps = [b - a for a, b in zip(self.order, self.order[1:], strict=False)]
        if gaps:
            self.settings.flows.hold(max(gaps), (w, h))
        return True

    # -- frames ------------------------------------------------------------------------------
    def render(self, frame: ModelFrame) -> np.ndarray | None:
        """The styled RGB of `frame`, or None when the job was cancelled meanwhile."""
        self.current = frame
        if self.settings is None and not self._setup(frame):
            return None
        out = self._render(frame)
        if out is None:
            return None
        out = np.clip(out[..., :3], 0.0, 1.0)
        softness = float(self.params["softness"])
        if softness > 0:
            import cv2

            out = cv2.GaussianBlur(out, (0, 0), softness, borderType=cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(out, dtype=np.float32)

    def _render(self, frame: ModelFrame) -> np.ndarray | None:
        t = frame.number
        if t in self.keys:
            return self.keys[t].style
        i = bisect.bisect_left(self.order, t)
        before = self.order[i - 1] if i > 0 else None
        after = self.order[i] if i < len(self.order) else None
        mode = str(self.params["blend"])
        # the backward pass serves the frames after `floor` (the keyframe before, or with
        # blend=nearest the midpoint, past which the later keyframe is the nearer one)
        floor = before
        if before is not None and after is not None and mode == "nearest":
            if t - before <= after - t:
                after = None
            else:
                floor, before = (before + after) // 2, None
        for number, key in self.keys.items():
            if number not in (before, after):
                key.release()
        fwd = self._forward(before, frame) if before is not None else None
        bwd = self._backward(after, floor, t) if after is not None else None
        if (
            self.shot.is_cancelled()
            or (before is not None and fwd is None)
            or (after is not None and bwd is None)
        ):
            return None
        if fwd is not None and bwd is not None:
            share = (t - before) / float(after - before)
            return merge(fwd[0], fwd[1], bwd[0], bwd[1], share, mode, switch=float(self.params["switch"]))
        return (fwd or bwd)[0]

    def _forward(self, key: int, frame: ModelFrame) -> tuple[np.ndarray, np.ndarray] | None:
        if self.fwd is None or self.fwd.key.frame != key or self.fwd.number >= frame.number:
            self.fwd = Pass(self.settings, self.keys[key], +1)
        result = None
        while self.fwd.number < frame.number:
            if self.shot.is_cancelled():
                return None
            result = self.fwd.step(self.plate(self.fwd.number + 1))
            if result is None:
                return None
        return self.fwd.style, result.error

    def _backward(self, key: int, floor: int | None, t: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self.bwd is None or self.bwd.key.frame != key:
            self.bwd = Pass(self.settings, self.keys[key], -1)
            self.bwd_frames = {}
        if t not in self.bwd_frames:
            # sweep from the keyframe down to the lowest frame of this segment the job will ask
            # for, keeping those frames' fields; later frames of the segment reuse them
            low = floor if floor is not None else min(min(self.shot.frames, default=t), t) - 1
            wanted = {f for f in self.shot.frames if low < f < key} | {t}
            lowest = min(f for f in wanted if f <= t)
            if self.bwd.number <= t:
                self.bwd = Pass(self.settings, self.keys[key], -1)
            while self.bwd.number > lowest:
                if self.shot.is_cancelled():
                    return None
                result = self.bwd.step(self.plate(self.bwd.number - 1))
                if result is None:
                    return None
                if result.number in wanted:
                    self.bwd_frames[result.number] = result
        stored = self.bwd_frames.pop(t)
        return self.bwd.vote(stored.field, stored.exact), stored.error


def _style_channels(style: StyleFrame, with_alpha: bool) -> np.ndarray:
    rgb = np.clip(style.rgb[..., :3].astype(np.float32), 0.0, 1.0)
    if not with_alpha:
        return np.ascontiguousarray(rgb)
    alpha = style.alpha if style.alpha is not None else np.ones(rgb.shape[:2], np.float32)
    return np.ascontiguousarray(np.concatenate([rgb, np.clip(alpha, 0, 1)[..., None]], axis=2))
