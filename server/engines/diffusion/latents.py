"""Latent-space helpers: padding frames to what the UNet can take, VAE encoding and tiling, latent warping."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: `vae_tiling auto` tiles the VAE for frames whose longer side is above this many pixels.
TILE_ABOVE = 2048


def wants_tiling(mode: str, height: int, width: int) -> bool:
    """Whether `vae_tiling` `mode` (on, off, auto) tiles the VAE from the start for frames of this size."""
    return mode == "on" or (mode == "auto" and max(height, width) > TILE_ABOVE)


def set_tiling(vae: Any, on: bool) -> None:
    if on:
        vae.enable_tiling()
    else:
        vae.disable_tiling()


def size_multiple(pipe: Any) -> int:
    """Pixel multiple a frame must have: the VAE factor times the UNet's downsampling."""
    levels = len(pipe.unet.config.block_out_channels) - 1
    return int(pipe.vae_scale_factor) * (2**levels)


def pad_amount(height: int, width: int, multiple: int) -> tuple[int, int]:
    return (-height) % multiple, (-width) % multiple


def pad(image: np.ndarray, pad_h: int, pad_w: int, mode: str = "reflect") -> np.ndarray:
    """Pad the bottom and right edges (reflect for pictures, edge for flows and masks)."""
    if not pad_h and not pad_w:
        return image
    widths = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (image.ndim - 2)
    if mode == "reflect" and (pad_h >= image.shape[0] or pad_w >= image.shape[1]):
        mode = "edge"
    return np.pad(image, widths, mode=mode)


def to_tensor(images: np.ndarray, device: str, dtype: torch.dtype) -> torch.Tensor:
    """(n, h, w, 3) float [0, 1] -> (n, 3, h, w) on the device, in [-1, 1] as the VAE expects."""
    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2)
    return (tensor.to(device=device, dtype=dtype) * 2.0) - 1.0


@torch.no_grad()
def encode(pipe: Any, images: np.ndarray) -> torch.Tensor:
    """Scaled latents of (n, h, w, 3) [0, 1] images: the mode of the VAE posterior, so no noise is drawn."""
    vae = pipe.vae
    dtype = vae.dtype
    # SDXL's VAE overflows in fp16 (its pipelines upcast it); SD 1.x pipelines keep fp16, and so do we.
    upcast = (
        getattr(pipe, "_stylelock_family", "sd") == "sdxl"
        and bool(getattr(vae.config, "force_upcast", False))
        and dtype == torch.float16
    )
    if upcast:
        vae.to(dtype=torch.float32)
    try:
        pixels = to_tensor(images, str(pipe._execution_device), vae.dtype)
        latents = vae.encode(pixels).latent_dist.mode()
    finally:
        if upcast:
            vae.to(dtype=dtype)
    latents = latents.to(dtype)
    mean = getattr(vae.config, "latents_mean", None)
    std = getattr(vae.config, "latents_std", None)
    if mean is not None and std is not None:
        mean_t = torch.tensor(mean, device=latents.device, dtype=dtype).view(1, -1, 1, 1)
        std_t = torch.tensor(std, device=latents.device, dtype=dtype).view(1, -1, 1, 1)
        return (latents - mean_t) * vae.config.scaling_factor / std_t
    return latents * vae.config.scaling_factor


def mask_to_latent(mask: np.ndarray, latent_hw: tuple[int, int]) -> np.ndarray:
    """A pixel mask averaged onto the latent grid: the share of each latent pixel that is valid."""
    import cv2

    h, w = latent_hw
    return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def flow_grid(flow: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """The `grid_sample` grid (1, h, w, 2) of a latent-grid flow (h, w, 2), on `device`.

    Built once per link and batch (the flow is fixed for the batch), not at every fused step.
    """
    h, w = flow.shape[:2]
    flow_t = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    gx = (xs + flow_t[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow_t[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return torch.stack([gx, gy], dim=-1).unsqueeze(0).to(device=device)


def warp_latents(latents: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Backward-warp (1, c, h, w) latents through a `flow_grid`, bilinear, edges replicated."""
    warped = F.grid_sample(latents.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return warped.to(latents.dtype)
