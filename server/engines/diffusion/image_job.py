"""One `diffusion-image` job: img2img over batches of frames with the temporal layers switched by params.

Imported at run time only. A job takes the resident pipeline, attaches what this job needs (ControlNets
through `from_pipe`, the IP-Adapter, a fresh scheduler, the cross-frame attention processors), and
then samples batches of frames. The frames are VAE-encoded here (posterior mode, no noise drawn) and
handed to the pipeline as latents, so the only randomness is the noise each frame's own CPU generator
draws: a pure function of (seed, frame). Between steps a callback checks cancellation, advances the
cross-frame attention's step, and blends the warped previous output into the latents (flow fusion).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from stylelock.core.errors import EngineError, SpecError
from stylelock.server.engines.base import ModelFrame, ShotContext
from stylelock.server.engines.diffusion import latents as lat
from stylelock.server.engines.diffusion.crossframe import CrossFrameState, cross_frame_attention
from stylelock.server.engines.diffusion.fusion import FlowFusion
from stylelock.server.engines.diffusion.guides import GuideMaker, plan_guides
from stylelock.server.engines.diffusion.library import ModelLibrary, controlnet_paths
from stylelock.server.engines.diffusion.loading import (
    ensure_ip_adapter,
    free_memory,
    fresh_scheduler,
    load_base,
    load_controlnet,
    reraise_unless_oom,
    resolve_dtype,
    with_controlnets,
)
from stylelock.server.engines.diffusion.motion import MotionTracker
from stylelock.server.engines.diffusion.noise import frame_noise, generators
from stylelock.server.engines.diffusion.prompts import encode_conditioning
from stylelock.server.engines.diffusion.style import job_look

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised from the step callback to stop sampling at once when the job is cancelled."""


class ImageJob:
    """Restyles the frames of one shot; `run(batch)` returns one styled array per frame."""

    def __init__(self, shot: ShotContext, library: ModelLibrary, device: str, first: ModelFrame) -> None:
        self.shot = shot
        self.p: Mapping[str, Any] = shot.params
        self.device = device
        self.dtype = resolve_dtype(self.p["dtype"], device, shot.warn)
        source = library.resolve_model(self.p["model"])
        base = load_base(source, self.dtype, device, library)

        self.look = job_look(shot, library)
        ensure_ip_adapter(base, self.look.ip_adapter, self.dtype, device)

        self.guide_names = list(shot.guides)
        extra = controlnet_paths(self.p["controlnet_paths"])
        if extra:
            library = replace(library, controlnets={**library.controlnets, **extra})
        nets = [
            load_controlnet(library.resolve_controlnet(n), self.dtype, device, base.unet.config)
            for n in self.guide_names
        ]
        self.guides = (
            GuideMaker(
                plan_guides(shot.guides, first),
                shot.plate_or_job_frames,
                shot.load_frame,
                (first.height, first.width),
                (self.p["canny_low"], self.p["canny_high"]),
                shot.open_path,
            )
            if nets
            else None
        )
        self.control_windows = self._control_windows()
        self.pipe = with_controlnets(base, nets) if nets else base
        self.pipe.scheduler = fresh_scheduler(base, self.p["scheduler"])
        self.look.set_scale(self.pipe, self.p)
        self.conditioning = encode_conditioning(self.pipe, self.p, self.look.ip_image)

        self.cross_state = CrossFrameState() if self.p["cross_frame_attention"] else None
        self.motion = MotionTracker() if self.p["flow_fusion"] else None
        self.fusion = (
            FlowFusion(self.motion, self.p["flow_fusion_strength"], self.p["flow_fusion_until"])
            if self.motion is not None
            else None
        )
        self.previous: tuple[int, torch.Tensor] | None = None
        """(frame number, final latents (1, c, h, w)) of the last restyled frame."""
        self.batch = int(self.p["batch"])
        self.tiling = lat.wants_tiling(self.p["vae_tiling"], first.height, first.width)
        self.multiple = lat.size_multiple(self.pipe)

    # -- public ---------------------------------------------------------------------------------
    def attention(self):
        """Context manager installing cross-frame attention for the job (a no-op when it is off)."""
        from contextlib import nullcontext

        if self.cross_state is None:
            return nullcontext(0)
        return cross_frame_attention(self.pipe.unet, self.cross_state)

    def restart(self) -> None:
        """Begin a new chain (a segment start): no anchor, no previous frame, no motion history and,
        without a style reference, no colour target yet."""
        if self.cross_state is not None:
            self.cross_state.reset()
        if self.motion is not None:
            self.motion.clear()
        self.previous = None
        if self.look.colour is not None:
            self.look.colour.reset()

    def observe(self, frame: ModelFrame) -> None:
        """Let the motion tracker see a plate frame (every frame, restyled or not, in order)."""
        if self.motion is not None:
            self.motion.remember(frame)

    def run(self, frames: list[ModelFrame]) -> list[np.ndarray]:
        """Restyle `frames` (consecutive in the job's order), splitting the batch when memory runs out."""
        for frame in frames:
            self.observe(frame)
        lat.set_tiling(self.pipe.vae, self.tiling)
        try:
            return self._sample(frames)
        except Cancelled:
            raise
        except Exception as exc:
            if self.cross_state is not None:
                self.cross_state.abort_call()
            reraise_unless_oom(exc, f"diffusion failed on frames {frames[0].number}-{frames[-1].number}")
        free_memory(self.device)
        if len(frames) > 1:
            self.batch = max(1, len(frames) // 2)
            self.shot.warn(
                f"out of device memory with {len(frames)} frames at once; retrying {self.batch} at a time"
            )
            half = len(frames) // 2
            return self.run(frames[:half]) + self.run(frames[half:])
        if not self.tiling:
            self.tiling = True
            self.shot.warn("out of device memory on one frame; retrying with VAE tiling")
            return self.run(frames)
        raise EngineError(
            f"a {frames[0].width}x{frames[0].height} frame does not fit the memory of {self.device}, "
            "even one frame at a time with VAE tiling"
        )

    # -- sampling -------------------------------------------------------------------------------
    def _sample(self, frames: list[ModelFrame]) -> list[np.ndarray]:
        p = self.p
        n = len(frames)
        numbers = [f.number for f in frames]
        h, w = frames[0].height, frames[0].width
        for frame in frames:
            if (frame.height, frame.width) != (h, w):
                raise EngineError(f"frame {frame.number} is {frame.width}x{frame.height}, not {w}x{h}")
        if int(int(p["steps"]) * float(p["strength"])) < 1:  # no step would run: the plate comes back
            return [np.array(f.rgb, dtype=np.float32) for f in frames]
        ph, pw = lat.pad_amount(h, w, self.multiple)
        rgb = np.stack([lat.pad(np.asarray(f.rgb, dtype=np.float32), ph, pw) for f in frames])
        latents = lat.encode(self.pipe, rgb)
        latent_hw = (latents.shape[2], latents.shape[3])
        shared = bool(p["shared_noise"])

        kwargs: dict[str, Any] = {
            **self.conditioning.kwargs(n),
            "image": latents,
            "strength": float(p["strength"]),
            "num_inference_steps": int(p["steps"]),
            "guidance_scale": float(p["guidance"]),
            "generator": generators(int(p["seed"]), numbers, shared),
            "output_type": "np",
        }
        if self.guides is not None:
            kwargs.update(self._control_kwargs(frames, ph, pw))

        final: list[torch.Tensor] = []
        plan = None
        if self.fusion is not None:
            noise = frame_noise(int(p["seed"]), numbers, shared, tuple(latents.shape[1:]), latents.dtype)
            plan = self.fusion.plan(frames, self.previous, noise.to(latents.device), (ph, pw), latent_hw)

        def on_step(pipe: Any, i: int, t: Any, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            if self.shot.is_cancelled():
                raise Cancelled
            if self.cross_state is not None:
                self.cross_state.step = i + 1
            current = tensors["latents"]
            total = int(getattr(pipe, "_num_timesteps", 0) or 1)
            if plan is not None and self.fusion.active(i, total):
                current = self.fusion.apply(pipe, current, plan, i, total)
            if i == total - 1:
                final.append(current.detach())
            return {"latents": current}

        kwargs["callback_on_step_end"] = on_step
        kwargs["callback_on_step_end_tensor_inputs"] = ["latents"]
        if self.cross_state is not None:
            self.cross_state.begin_call(n)
        with torch.no_grad():
            result = self.pipe(**kwargs)
        if self.cross_state is not None:
            self.cross_state.end_call()
        # At least one step ran (checked above), so the callback kept the last step's latents.
        self.previous = (numbers[-1], final[-1][-1:].clone())
        if self.motion is not None:
            self.motion.forget_before(numbers[-1])
        out = [np.ascontiguousarray(img[:h, :w, :3], dtype=np.float32) for img in result.images]
        if self.look.colour is not None:
            out = [self.look.colour(img) for img in out]
        return out

    def _control_kwargs(self, frames: list[ModelFrame], ph: int, pw: int) -> dict[str, Any]:
        per_frame = [self.guides.control_images(f) for f in frames]
        images = [np.stack([lat.pad(g[name], ph, pw) for g in per_frame]) for name in self.guide_names]
        weights, starts, ends = self.control_windows
        single = len(images) == 1
        return {
            "control_image": images[0] if single else images,
            "controlnet_conditioning_scale": weights[0] if single else weights,
            "control_guidance_start": starts[0] if single else starts,
            "control_guidance_end": ends[0] if single else ends,
        }

    def _control_windows(self) -> tuple[list[float], list[float], list[float]]:
        names, p = self.guide_names, self.p
        weights = _per_guide(p["controlnet_weights"], names, p["controlnet_weight"], "weights")
        starts = _per_guide(p["controlnet_starts"], names, p["controlnet_start"], "starts")
        ends = _per_guide(p["controlnet_ends"], names, p["controlnet_end"], "ends")
        for name, start, end in zip(names, starts, ends, strict=True):
            if start >= end:
                raise SpecError(
                    f"ControlNet {name!r} starts at {start} but ends at {end}: start must come first"
                )
        return weights, starts, ends


def _per_guide(text: str, names: list[str], default: float, what: str) -> list[float]:
    values = dict.fromkeys(names, float(default))
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in values:
            raise SpecError(
                f"controlnet_{what} entry {item!r} must be GUIDE=NUMBER for a guide of this job "
                f"({', '.join(names) or 'none'})"
            )
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise SpecError(f"controlnet_{what} entry {item!r} has no number after '='") from None
    return [values[n] for n in names]
