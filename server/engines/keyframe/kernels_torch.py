"""The synthesis kernels in torch, for CUDA (and as a slow CPU fallback when numba is missing).

They compute what `kernels_numba` computes, one candidate *field* at a time instead of one pixel
at a time: every pixel tries its left neighbour's candidate, then every pixel its right
neighbour's, and so on, in the order the numba sweep tries them, with the same counter-based
random numbers. Results agree with the CPU kernels up to float rounding (which can flip a choice
between two nearly equal patches). No kernel uses float atomics, so a run is deterministic.
"""

from __future__ import annotations

import math

import torch

MASK32 = 0xFFFFFFFF


def hash32(x: torch.Tensor) -> torch.Tensor:
    """The same 32-bit mixer as `kernels_numba.hash32`, on int64 tensors (products wrap, the low
    32 bits stay exact)."""
    x = x & MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


def draw(key: int, pixel: torch.Tensor, k: int) -> torch.Tensor:
    return hash32(hash32(hash32(pixel) ^ key) + k)


def _distance(
    tgt: torch.Tensor, src_flat: torch.Tensor, src_w: int, cx: torch.Tensor, cy: torch.Tensor, p: int
):
    """Patch SSD of every target pixel against the source patch at (cx, cy) (unpadded coords)."""
    h, w = cx.shape
    acc = torch.zeros((h, w), dtype=torch.float32, device=tgt.device)
    base = cy * src_w + cx
    for j in range(p):
        for i in range(p):
            s = src_flat.index_select(0, (base + (j * src_w + i)).reshape(-1)).reshape(h, w, -1)
            d = tgt[j : j + h, i : i + w, :] - s
            acc += (d * d).sum(dim=2)
    return acc


def patch_errors(tgt: torch.Tensor, src: torch.Tensor, nnf: torch.Tensor, p: int) -> torch.Tensor:
    src_w = src.shape[1]
    flat = src.reshape(-1, src.shape[2])
    return _distance(tgt, flat, src_w, nnf[..., 0].long(), nnf[..., 1].long(), p)


def patch_errors_float(tgt: torch.Tensor, src: torch.Tensor, field: torch.Tensor, p: int) -> torch.Tensor:
    """Patch distances against bilinearly sampled source patches at sub-pixel positions."""
    h, w = field.shape[:2]
    hp, wp, nc = src.shape
    flat = src.reshape(-1, nc)
    fx = field[..., 0].clamp(0.0, wp - 1.0 - p)
    fy = field[..., 1].clamp(0.0, hp - 1.0 - p)
    ix, iy = fx.long(), fy.long()
    ax = (fx - ix)[..., None]
    ay = (fy - iy)[..., None]
    acc = torch.zeros((h, w), dtype=torch.float32, device=src.device)
    for j in range(p):
        for i in range(p):
            base = (iy + j) * wp + (ix + i)

            def at(offset, base=base):
                return flat.index_select(0, (base + offset).reshape(-1)).reshape(h, w, nc)

            a, b, c, d = at(0), at(1), at(wp), at(wp + 1)
            top = a + ax * (b - a)
            bot = c + ax * (d - c)
            diff = tgt[j : j + h, i : i + w, :] - (top + ay * (bot - top))
            acc += (diff * diff).sum(dim=2)
    return acc


def patchmatch_sweep(
    tgt: torch.Tensor,
    src: torch.Tensor,
    nnf: torch.Tensor,
    err: torch.Tensor,
    occ: torch.Tensor,
    lam: float,
    p: int,
    radii: list[int],
    key: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = err.shape
    hs, ws = occ.shape
    src_w = src.shape[1]
    flat = src.reshape(-1, src.shape[2])
    occ_flat = occ.reshape(-1)
    nx0 = nnf[..., 0].long()
    ny0 = nnf[..., 1].long()
    bx, by, be = nx0.clone(), ny0.clone(), err.clone()
    bc = be + lam * occ_flat[by * ws + bx]

    def attempt(cx, cy, valid):
        nonlocal bx, by, be, bc
        penalty = lam * occ_flat[cy * ws + cx]
        e = _distance(tgt, flat, src_w, cx, cy, p)
        take = valid & ((cx != bx) | (cy != by)) & (e + penalty < bc)
        bx = torch.where(take, cx, bx)
        by = torch.where(take, cy, by)
        be = torch.where(take, e, be)
        bc = torch.where(take, e + penalty, bc)

    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        # the neighbour at (x - dx, y - dy); shifting its candidate by (dx, dy) lines it up with us
        sx = torch.roll(nx0, shifts=(dy, dx), dims=(0, 1))
        sy = torch.roll(ny0, shifts=(dy, dx), dims=(0, 1))
        valid = torch.ones((h, w), dtype=torch.bool, device=tgt.device)
        if dx == 1:
            valid[:, 0] = False
        elif dx == -1:
            valid[:, -1] = False
        elif dy == 1:
            valid[0, :] = False
        else:
            valid[-1, :] = False
        attempt((sx + dx).clamp(0, ws - 1), (sy + dy).clamp(0, hs - 1), valid)

    pixel = torch.arange(h * w, dtype=torch.int64, device=tgt.device).reshape(h, w)
    ox, oy = bx.clone(), by.clone()
    everywhere = torch.ones((h, w), dtype=torch.bool, device=tgt.device)
    for k, rad in enumerate(radii):
        span = 2 * int(rad) + 1
        cx = (ox + draw(key, pixel, 2 * k) % span - rad).clamp(0, ws - 1)
        cy = (oy + draw(key, pixel, 2 * k + 1) % span - rad).clamp(0, hs - 1)
        attempt(cx, cy, everywhere)
    return torch.stack([bx, by], dim=-1).to(torch.int32), be


def source_counts(nnf: torch.Tensor, hs: int, ws: int) -> torch.Tensor:
    idx = (nnf[..., 1].long() * ws + nnf[..., 0].long()).reshape(-1)
    return torch.bincount(idx, minlength=hs * ws).reshape(hs, ws).to(torch.float32)


def vote(style: torch.Tensor, nnf: torch.Tensor, r: int) -> torch.Tensor:
    h, w = nnf.shape[:2]
    ns = style.shape[2]
    style_w = style.shape[1]
    flat = style.reshape(-1, ns)
    out = torch.zeros((h, w, ns), dtype=torch.float32, device=style.device)
    count = torch.zeros((h, w), dtype=torch.float32, device=style.device)
    nx = nnf[..., 0].long()
    ny = nnf[..., 1].long()
    ys = torch.arange(h, device=style.device)[:, None]
    xs = torch.arange(w, device=style.device)[None, :]
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            yy = ys + dy
            xx = xs + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            yc = yy.clamp(0, h - 1).expand(h, w)
            xc = xx.clamp(0, w - 1).expand(h, w)
            sx = nx[yc, xc] - dx + r
            sy = ny[yc, xc] - dy + r
            val = flat.index_select(0, (sy * style_w + sx).reshape(-1)).reshape(h, w, ns)
            m = inside.to(torch.float32)
            out += val * m[..., None]
            count += m
    return out / count[..., None]


def _kernel_weights(t: torch.Tensor, taps: int) -> torch.Tensor:
    """(..., taps) weights as `kernels_numba._kernel_weights` (bilinear for 2 taps, else Lanczos)."""
    if taps == 2:
        return torch.stack([1.0 - t, t], dim=-1)
    a = taps // 2
    offsets = torch.arange(taps, device=t.device, dtype=torch.float32) - (a - 1)
    x = t[..., None] - offsets
    px = math.pi * x
    safe = torch.where(x.abs() < 1e-6, torch.ones_like(px), px)
    lanczos = a * torch.sin(safe) * torch.sin(safe / a) / (safe * safe)
    v = torch.where(x.abs() < 1e-6, torch.ones_like(x), lanczos)
    v = torch.where(x.abs() >= a, torch.zeros_like(v), v)
    return v / v.sum(dim=-1, keepdim=True)


def _sample(flat, wp, hp, ns, x0, y0, fx, fy, taps: int) -> torch.Tensor:
    """(h, w, ns) samples of the flattened padded style at (x0 + fx, y0 + fy), `taps` a side."""
    h, w = x0.shape
    wx = _kernel_weights(fx, taps)
    wy = _kernel_weights(fy, taps)
    acc = torch.zeros((h, w, ns), dtype=torch.float32, device=flat.device)
    for j in range(taps):
        sj = (y0 + j - taps // 2 + 1).clamp(0, hp - 1)
        for i in range(taps):
            si = (x0 + i - taps // 2 + 1).clamp(0, wp - 1)
            sample = flat.index_select(0, (sj * wp + si).reshape(-1)).reshape(h, w, ns)
            acc += (wy[..., j] * wx[..., i])[..., None] * sample
    return acc


def vote_float(
    style: torch.Tensor, nnf: torch.Tensor, exact: torch.Tensor, r: int, taps: int = 8
) -> torch.Tensor:
    """`vote` with sub-pixel source positions, interpolated over ``taps`` x ``taps`` samples; pixels
    flagged ``exact`` take their own position only (as `kernels_numba.vote_float`)."""
    h, w = nnf.shape[:2]
    hp, wp, ns = style.shape
    flat = style.reshape(-1, ns)
    out = torch.zeros((h, w, ns), dtype=torch.float32, device=style.device)
    count = torch.zeros((h, w), dtype=torch.float32, device=style.device)
    ys = torch.arange(h, device=style.device)[:, None]
    xs = torch.arange(w, device=style.device)[None, :]
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            yy = ys + dy
            xx = xs + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            if dx != 0 or dy != 0:
                inside = inside & ~exact
            yc = yy.clamp(0, h - 1).expand(h, w)
            xc = xx.clamp(0, w - 1).expand(h, w)
            sx = (nnf[yc, xc, 0] - dx + r).clamp(0.0, wp - 1.0)
            sy = (nnf[yc, xc, 1] - dy + r).clamp(0.0, hp - 1.0)
            x0 = torch.floor(sx).long()
            y0 = torch.floor(sy).long()
            # a tracked (``exact``) pixel samples `taps` a side; one that averages its
            # neighbours' patches is smoothed anyway and samples bilinearly (as
            # `kernels_numba.vote_float`)
            acc = _sample(flat, wp, hp, ns, x0, y0, sx - x0, sy - y0, 2)
            if dx == 0 and dy == 0 and taps != 2:
                sharp = _sample(flat, wp, hp, ns, x0, y0, sx - x0, sy - y0, taps)
                acc = torch.where(exact[..., None], sharp, acc)
            m = inside.to(torch.float32)
            out += acc * m[..., None]
            count += m
    return out / count[..., None]
