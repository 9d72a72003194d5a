"""One interface over the two kernel sets: numba on the CPU, torch on CUDA.

The synthesis driver (`synth`) only talks to a `Backend`: it hands over numpy arrays once per
pyramid level and gets numpy back at the end, while the hot loop (PatchMatch sweeps, votes,
occupancy) stays on the backend's device.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from stylelock.core.errors import EngineError

log = logging.getLogger(__name__)

#: Samples per axis of the kernel paint is resampled with at sub-pixel positions (`vote_float`):
#: 8 is Lanczos-4, as OpenCV's INTER_LANCZOS4; 2 would be bilinear.
TAPS = 8


def _box_sum_np(a: np.ndarray, p: int) -> np.ndarray:
    import cv2

    return cv2.boxFilter(a, -1, (p, p), normalize=False, borderType=cv2.BORDER_CONSTANT)


class Backend:
    """What the synthesis needs from a device. Arrays are backend-native between calls."""

    name = "abstract"

    def asarray(self, a: np.ndarray) -> Any:
        raise NotImplementedError

    def numpy(self, a: Any) -> np.ndarray:
        raise NotImplementedError

    def patch_errors(self, tgt: Any, src: Any, nnf: Any, p: int) -> Any:
        raise NotImplementedError

    def patch_errors_float(self, tgt: Any, src: Any, field: Any, p: int) -> Any:
        """`patch_errors` at sub-pixel source positions ((h, w, 2) float32), bilinear."""
        raise NotImplementedError

    def sweep(self, tgt, src, nnf, err, occ, lam: float, p: int, radii: list[int], key: int):
        raise NotImplementedError

    def occupancy(self, nnf: Any, hs: int, ws: int, p: int, omega_best: float) -> Any:
        """Mean coverage of every source patch by the target's patches, over a perfectly even use
        (`omega_best`): 1 is ideal, 5 means the patch's pixels are used five times too often."""
        raise NotImplementedError

    def vote(self, style: Any, nnf: Any, r: int) -> Any:
        raise NotImplementedError

    def vote_float(self, style: Any, nnf: Any, exact: Any, r: int) -> Any:
        """`vote` at sub-pixel source positions ((h, w, 2) float32), interpolated with `TAPS`
        samples a side (Lanczos); pixels flagged in ``exact`` ((h, w) bool) take their own
        position only."""
        raise NotImplementedError

    def pad(self, a: Any, r: int) -> Any:
        raise NotImplementedError

    def concat(self, parts: list[Any]) -> Any:
        raise NotImplementedError

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        raise NotImplementedError


class NumbaBackend(Backend):
    name = "numba"

    def __init__(self) -> None:
        from stylelock.server.engines.keyframe import kernels_numba

        self.k = kernels_numba

    def asarray(self, a):
        return np.ascontiguousarray(a)

    def numpy(self, a):
        return np.asarray(a)

    def patch_errors(self, tgt, src, nnf, p):
        out = np.empty(nnf.shape[:2], dtype=np.float32)
        self.k.patch_errors(tgt, src, nnf, p, out)
        return out

    def patch_errors_float(self, tgt, src, field, p):
        out = np.empty(field.shape[:2], dtype=np.float32)
        self.k.patch_errors_float(tgt, src, np.ascontiguousarray(field, dtype=np.float32), p, out)
        return out

    def sweep(self, tgt, src, nnf, err, occ, lam, p, radii, key):
        nnf_out = np.empty_like(nnf)
        err_out = np.empty_like(err)
        rad = np.asarray(radii, dtype=np.int64)
        self.k.patchmatch_sweep(tgt, src, nnf, err, occ, np.float32(lam), p, rad, int(key), nnf_out, err_out)
        return nnf_out, err_out

    def occupancy(self, nnf, hs, ws, p, omega_best):
        counts = self.k.source_counts(nnf, hs, ws)
        return (_box_sum_np(_box_sum_np(counts, p), p) / np.float32(p * p * omega_best)).astype(np.float32)

    def vote(self, style, nnf, r):
        out = np.empty((*nnf.shape[:2], style.shape[2]), dtype=np.float32)
        self.k.vote(style, nnf, r, out)
        return out

    def vote_float(self, style, nnf, exact, r):
        out = np.empty((*nnf.shape[:2], style.shape[2]), dtype=np.float32)
        field = np.ascontiguousarray(nnf, dtype=np.float32)
        self.k.vote_float(style, field, np.asarray(exact), r, TAPS, out)
        return out

    def pad(self, a, r):
        return np.ascontiguousarray(np.pad(a, ((r, r), (r, r), (0, 0)), mode="edge"))

    def concat(self, parts):
        return np.ascontiguousarray(np.concatenate(parts, axis=2))

    def where(self, cond, a, b):
        return np.where(cond, a, b)


class TorchBackend(Backend):
    def __init__(self, device: str) -> None:
        import torch

        from stylelock.server.engines.keyframe import kernels_torch

        self.torch = torch
        self.k = kernels_torch
        self.device = torch.device(device)
        self.name = f"torch-{self.device.type}"

    def asarray(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def numpy(self, a):
        return a.detach().cpu().numpy()

    def patch_errors(self, tgt, src, nnf, p):
        return self.k.patch_errors(tgt, src, nnf, p)

    def patch_errors_float(self, tgt, src, field, p):
        return self.k.patch_errors_float(tgt, src, field.to(self.torch.float32), p)

    def sweep(self, tgt, src, nnf, err, occ, lam, p, radii, key):
        return self.k.patchmatch_sweep(tgt, src, nnf, err, occ, float(lam), p, list(radii), int(key))

    def occupancy(self, nnf, hs, ws, p, omega_best):
        import torch.nn.functional as F

        counts = self.k.source_counts(nnf, hs, ws)[None, None]
        r = p // 2
        # pooling sums in plain float32 (no TF32, unlike a cuDNN convolution): integer-exact
        cover = F.avg_pool2d(counts, p, stride=1, padding=r, count_include_pad=True, divisor_override=1)
        total = F.avg_pool2d(cover, p, stride=1, padding=r, count_include_pad=True, divisor_override=1)[0, 0]
        return total / float(p * p * omega_best)

    def vote(self, style, nnf, r):
        return self.k.vote(style, nnf, r)

    def vote_float(self, style, nnf, exact, r):
        return self.k.vote_float(style, nnf.to(self.torch.float32), exact.to(self.torch.bool), r, TAPS)

    def pad(self, a, r):
        import torch.nn.functional as F

        chw = a.permute(2, 0, 1)[None]
        return F.pad(chw, (r, r, r, r), mode="replicate")[0].permute(1, 2, 0).contiguous()

    def concat(self, parts):
        return self.torch.cat(parts, dim=2).contiguous()

    def where(self, cond, a, b):
        return self.torch.where(cond, a, b)


def make_backend(device: str, *, log_to: logging.Logger | logging.LoggerAdapter | None = None) -> Backend:
    """`device` is auto, cpu or cuda. CPU runs the numba kernels (torch's when numba is absent)."""
    logger = log_to or log
    wants_cuda = device == "cuda" or device.startswith("cuda:")
    if device == "auto" or wants_cuda:
        try:
            import torch

            has_cuda = torch.cuda.is_available()
        except ImportError:
            has_cuda = False
        if has_cuda:
            return TorchBackend(device if wants_cuda else "cuda")
        if wants_cuda:
            raise EngineError("keyframe engine: device=cuda was asked for but no CUDA device is available")
    try:
        return NumbaBackend()
    except ImportError:
        logger.warning("keyframe: numba is not installed; falling back to torch on the CPU (much slower)")
        try:
            return TorchBackend("cpu")
        except ImportError:
            raise EngineError(
                "keyframe engine needs numba or torch: pip install 'stylelock[engines]'"
            ) from None
