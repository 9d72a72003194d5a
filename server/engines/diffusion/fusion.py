"""Flow-guided fusion: pull each frame's latents toward its predecessor, moved by the plate's motion.

After every sampler step (within the first `until` share of the steps) the latents z_j of frame j are
blended, where the motion is reliable, toward a target built from an earlier frame warped onto j:

- the last frame of the previous batch (its finished, clean latents z0): target = A z0_warped + B n_j;
- the frame before j in the same batch (its current, still noisy latents z_{j-1}), for j > 0:
  target = warp(z_{j-1} - B n_{j-1}) + B n_j.

A and B are the scheduler's signal and noise coefficients at the step just reached (z = A x0 + B n,
read from `scheduler.add_noise` itself, so DDIM, Euler and DPM-Solver all work) and n_j is frame j's
own starting noise. Only the picture content moves with the flow; each frame keeps its own noise,
so the blend does not smear noise (which would blur the result). Frames are fused in order, so a
batch propagates like frames sampled one after another, but at every step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stylelock.server.engines.base import ModelFrame
from stylelock.server.engines.diffusion import latents as lat
from stylelock.server.engines.diffusion.motion import MotionTracker, resize_flow


@dataclass
class FusionPlan:
    """What one batch fuses: per-frame targets from the previous batch and in-batch links."""

    noise: torch.Tensor
    """(n, c, h, w) each frame's starting noise."""
    cross: tuple[torch.Tensor, torch.Tensor] | None
    """(warped clean latents of the previous batch's last frame, weights) or None for the first batch."""
    links: list[tuple[torch.Tensor, torch.Tensor]]
    """For j = 1..n-1: (`latents.flow_grid` of the flow from frame j to j-1, weight (1, 1, h, w)),
    both on the device."""


class FlowFusion:
    def __init__(self, motion: MotionTracker, strength: float, until: float) -> None:
        self.motion = motion
        self.strength = float(strength)
        self.until = float(until)

    def plan(
        self,
        frames: list[ModelFrame],
        previous: tuple[int, torch.Tensor] | None,
        noise: torch.Tensor,
        pads: tuple[int, int],
        latent_hw: tuple[int, int],
    ) -> FusionPlan | None:
        if self.strength <= 0 or self.until <= 0:
            return None
        hw = (frames[0].height, frames[0].width)
        dtype, device = noise.dtype, noise.device
        cross = None
        if previous is not None:
            ref_number, ref_latents = previous
            targets, weights = [], []
            for frame in frames:
                flow, weight = self._link(frame.number, ref_number, hw, pads, latent_hw)
                targets.append(lat.warp_latents(ref_latents, lat.flow_grid(flow, ref_latents.device)))
                weights.append(weight)
            cross = (torch.cat(targets).to(dtype), torch.cat(weights).to(device=device, dtype=dtype))
        links = []
        for before, frame in itertools.pairwise(frames):
            flow, weight = self._link(frame.number, before.number, hw, pads, latent_hw)
            links.append((lat.flow_grid(flow, device), weight.to(device=device, dtype=dtype)))
        if cross is None and not links:
            return None
        return FusionPlan(noise=noise, cross=cross, links=links)

    def _link(
        self, src: int, dst: int, hw: tuple[int, int], pads: tuple[int, int], latent_hw: tuple[int, int]
    ) -> tuple[np.ndarray, torch.Tensor]:
        flow, valid = self.motion.flow_to(src, dst, hw)
        flow = resize_flow(lat.pad(flow, *pads, mode="edge"), latent_hw, "area")
        weight = lat.mask_to_latent(lat.pad(valid, *pads, mode="edge"), latent_hw) * self.strength
        return flow, torch.from_numpy(weight)[None, None]

    def active(self, step: int, total: int) -> bool:
        """Whether to fuse after step `step` (0-based) of `total`."""
        return step + 1 <= self.until * total

    def apply(self, pipe: Any, z: torch.Tensor, plan: FusionPlan, step: int, total: int) -> torch.Tensor:
        a, b = _coefficients(pipe, z, step, total)
        noise = plan.noise.to(z.dtype)
        z = z.clone()
        if plan.cross is not None:
            targets, weights = plan.cross
            z = z + weights * ((a * targets + b * noise) - z)
        # Callback latents hold one entry per frame (classifier-free guidance copies are made inside).
        for j, (grid, weight) in enumerate(plan.links, start=1):
            content = z[j - 1 : j] - b * noise[j - 1 : j]
            target = lat.warp_latents(content, grid) + b * noise[j : j + 1]
            z[j : j + 1] = z[j : j + 1] + weight * (target - z[j : j + 1])
        return z


def _coefficients(pipe: Any, z: torch.Tensor, step: int, total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) with z = A x0 + B noise at the noise level the latents have after step `step`."""
    one = torch.ones((1, 1, 1, 1), device=z.device, dtype=torch.float32)
    zero = torch.zeros_like(one)
    if step + 1 >= total:
        return one.to(z.dtype), zero.to(z.dtype)
    t_next = pipe.scheduler.timesteps[-total:][step + 1].reshape(1)
    a = pipe.scheduler.add_noise(one, zero, t_next)
    b = pipe.scheduler.add_noise(zero, one, t_next)
    return a.to(z.dtype), b.to(z.dtype)
