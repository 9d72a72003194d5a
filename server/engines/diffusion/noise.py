"""Seeds and noise: the noise of frame F is a pure function of (seed, F).

Generators live on the CPU whatever the device, so a frame's noise is the same bytes on every
machine and card; the pipeline moves it to the device. With shared noise every frame draws the
same noise (a function of the seed alone), the first and cheapest temporal layer.
"""

from __future__ import annotations

import hashlib

import torch


def frame_seed(seed: int, frame: int | None) -> int:
    """A 63-bit seed from (seed, frame); `frame=None` is the seed shared by every frame."""
    tag = f"stylelock:{seed}:{'shared' if frame is None else frame}".encode()
    return int.from_bytes(hashlib.blake2b(tag, digest_size=8).digest(), "little") & (2**63 - 1)


def generators(seed: int, frames: list[int], shared: bool) -> list[torch.Generator]:
    """One CPU generator per frame, seeded from (seed, frame) or from the seed alone when shared."""
    return [torch.Generator("cpu").manual_seed(frame_seed(seed, None if shared else f)) for f in frames]


def frame_noise(
    seed: int, frames: list[int], shared: bool, shape: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    """The noise tensor (n, *shape) the pipeline draws for `frames` from their fresh generators.

    It matches what diffusers' `randn_tensor` draws from the same generators (one `torch.randn` per
    generator, on the CPU, in `dtype`), so the flow fusion re-noises with the very noise a frame started from.
    """
    gens = generators(seed, frames, shared)
    return torch.cat([torch.randn((1, *shape), generator=g, dtype=dtype) for g in gens])
