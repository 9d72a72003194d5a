"""CPU kernels of the patch synthesis, compiled by numba.

Every kernel is "Jacobi": a pixel reads only the previous sweep's fields and writes its own, so
the result does not depend on how many threads run it, and the torch kernels (`kernels_torch`)
compute the same thing candidate field by candidate field on a GPU. Random numbers come from a
counter-based hash of (key, pixel, draw), never from a stateful generator. No kernel is compiled
with ``fastmath``: it lets LLVM reorder the sums of the patch distances, and how it reorders them
depended on the process that compiled (and cached) the kernel: code compiled with
NUMBA_NUM_THREADS=1 gave other bytes than code compiled with two threads. Strict order measured
no slower on the sample plate (8 frames at 960x540: 14.5-15.7 s either way).

Array conventions (shared with `kernels_torch`):

- ``tgt``: (H + 2r, W + 2r, C) float32, the target's weighted channels padded by r (edge copy).
- ``src``: (Hs + 2r, Ws + 2r, C) float32, the source's weighted channels padded the same way.
- ``nnf``: (H, W, 2) int32, for each target pixel the source pixel (x, y) its patch comes from,
  in unpadded source coordinates [0, Ws - 1] x [0, Hs - 1].
- Patch distances are weighted sums of squared differences over the P x P patch (P = 2r + 1).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

MASK32 = 0xFFFFFFFF


@njit(cache=True, inline="always")
def hash32(value: int) -> int:
    """A 32-bit integer mixer (xorshift-multiply); value and result lie in [0, 2**32)."""
    x = value & MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x


@njit(cache=True, inline="always")
def draw(key: int, pixel: int, k: int) -> int:
    """The k-th random 32-bit number of `pixel` under `key`."""
    return hash32(hash32(key ^ hash32(pixel)) + k)


@njit(cache=True, inline="always")
def _distance(tgt, src, tx, ty, sx, sy, p, bound):
    """SSD between the target patch at padded top-left (tx, ty) and the source patch at (sx, sy);
    stops early (returning a value above `bound`) once a row pushes the sum past `bound`."""
    acc = np.float32(0.0)
    nc = tgt.shape[2]
    for j in range(p):
        trow = tgt[ty + j]
        srow = src[sy + j]
        for i in range(p):
            tpx = trow[tx + i]
            spx = srow[sx + i]
            for c in range(nc):
                d = tpx[c] - spx[c]
                acc += d * d
        if acc > bound:
            return acc
    return acc


@njit(cache=True, parallel=True)
def patch_errors(tgt, src, nnf, p, out):
    """Patch distance of every target pixel to its current source patch."""
    h, w = nnf.shape[0], nnf.shape[1]
    inf = np.float32(np.inf)
    for y in prange(h):
        for x in range(w):
            out[y, x] = _distance(tgt, src, x, y, nnf[y, x, 0], nnf[y, x, 1], p, inf)


@njit(cache=True, parallel=True)
def patch_errors_float(tgt, src, field, p, out):
    """Patch distance of every target pixel to the source patch at a sub-pixel position
    (``field`` float32, unpadded source coordinates), the source sampled bilinearly."""
    h, w = field.shape[0], field.shape[1]
    hp, wp, nc = src.shape[0], src.shape[1], src.shape[2]
    for y in prange(h):
        for x in range(w):
            fx0 = min(max(field[y, x, 0], 0.0), wp - 1.0 - p)
            fy0 = min(max(field[y, x, 1], 0.0), hp - 1.0 - p)
            ix = int(fx0)
            iy = int(fy0)
            ax = np.float32(fx0 - ix)
            ay = np.float32(fy0 - iy)
            acc = np.float32(0.0)
            for j in range(p):
                trow = tgt[y + j]
                s0 = src[iy + j]
                s1 = src[iy + j + 1]
                for i in range(p):
                    tpx = trow[x + i]
                    a = s0[ix + i]
                    b = s0[ix + i + 1]
                    c_ = s1[ix + i]
                    d_ = s1[ix + i + 1]
                    for c in range(nc):
                        top = a[c] + ax * (b[c] - a[c])
                        bot = c_[c] + ax * (d_[c] - c_[c])
                        d = tpx[c] - (top + ay * (bot - top))
                        acc += d * d
            out[y, x] = acc


@njit(cache=True, parallel=True)
def patchmatch_sweep(tgt, src, nnf, err, occ, lam, p, radii, key, nnf_out, err_out):
    """One PatchMatch iteration: propagation from the four neighbours, then random search.

    ``occ`` (Hs, Ws) float32 is the occupancy of each source patch relative to a perfectly even
    use of the source (frozen for the sweep); a candidate costs its patch distance plus
    ``lam * occ`` (the uniformity term of Jamriska et al. 2015).
    """
    h, w = nnf.shape[0], nnf.shape[1]
    hs, ws = occ.shape[0], occ.shape[1]
    nrad = radii.shape[0]
    for y in prange(h):
        for x in range(w):
            bx = nnf[y, x, 0]
            by = nnf[y, x, 1]
            be = err[y, x]
            bc = be + lam * occ[by, bx]
            for k in range(4):
                # neighbours left, right, up, down; (dx, dy) shifts their source patch onto us
                dx = 1 if k == 0 else (-1 if k == 1 else 0)
                dy = 1 if k == 2 else (-1 if k == 3 else 0)
                nx = x - dx
                ny = y - dy
                if nx < 0 or nx >= w or ny < 0 or ny >= h:
                    continue
                cx = min(max(nnf[ny, nx, 0] + dx, 0), ws - 1)
                cy = min(max(nnf[ny, nx, 1] + dy, 0), hs - 1)
                if cx == bx and cy == by:
                    continue
                penalty = lam * occ[cy, cx]
                e = _distance(tgt, src, x, y, cx, cy, p, bc - penalty)
                if e + penalty < bc:
                    bx, by, be, bc = cx, cy, e, e + penalty
            pixel = y * w + x
            ox, oy = bx, by
            for k in range(nrad):
                rad = radii[k]
                span = 2 * rad + 1
                cx = min(max(ox + (draw(key, pixel, 2 * k) % span) - rad, 0), ws - 1)
                cy = min(max(oy + (draw(key, pixel, 2 * k + 1) % span) - rad, 0), hs - 1)
                if cx == bx and cy == by:
                    continue
                penalty = lam * occ[cy, cx]
                e = _distance(tgt, src, x, y, cx, cy, p, bc - penalty)
                if e + penalty < bc:
                    bx, by, be, bc = cx, cy, e, e + penalty
            nnf_out[y, x, 0] = bx
            nnf_out[y, x, 1] = by
            err_out[y, x] = be


@njit(cache=True)
def source_counts(nnf, hs, ws):
    """How many target pixels take their patch from each source pixel, (Hs, Ws) float32."""
    counts = np.zeros((hs, ws), dtype=np.float32)
    h, w = nnf.shape[0], nnf.shape[1]
    for y in range(h):
        for x in range(w):
            counts[nnf[y, x, 1], nnf[y, x, 0]] += 1.0
    return counts


@njit(cache=True, parallel=True)
def vote(style, nnf, r, out):
    """Each target pixel averages what the patches covering it say it should be.

    ``style`` is (Hs + 2r, Ws + 2r, S) padded source style; ``out`` is (H, W, S)."""
    h, w = nnf.shape[0], nnf.shape[1]
    ns = style.shape[2]
    for y in prange(h):
        for x in range(w):
            for c in range(ns):
                out[y, x, c] = 0.0
            n = 0
            for dy in range(-r, r + 1):
                yy = y + dy
                if yy < 0 or yy >= h:
                    continue
                for dx in range(-r, r + 1):
                    xx = x + dx
                    if xx < 0 or xx >= w:
                        continue
                    sx = nnf[yy, xx, 0] - dx + r
                    sy = nnf[yy, xx, 1] - dy + r
                    for c in range(ns):
                        out[y, x, c] += style[sy, sx, c]
                    n += 1
            for c in range(ns):
                out[y, x, c] /= np.float32(n)


@njit(cache=True, inline="always")
def _kernel_weights(t, taps, out):
    """Weights of the ``taps`` samples at offsets 1 - taps/2 ... taps/2 around a fraction ``t`` in
    [0, 1): bilinear for 2 taps, else Lanczos with a = taps / 2 (OpenCV's INTER_LANCZOS4 for 8),
    normalised to sum to 1."""
    if taps == 2:
        out[0] = 1.0 - t
        out[1] = t
        return
    total = 0.0
    a = taps // 2
    for k in range(taps):
        x = t - (k - a + 1)
        if abs(x) < 1e-6:
            v = 1.0
        elif abs(x) >= a:
            v = 0.0
        else:
            px = np.pi * x
            v = a * np.sin(px) * np.sin(px / a) / (px * px)
        out[k] = v
        total += v
    for k in range(taps):
        out[k] /= total


@njit(cache=True, parallel=True)
def vote_float(style, nnf, exact, r, taps, out):
    """`vote` with sub-pixel source positions (``nnf`` float32), interpolated over ``taps`` x
    ``taps`` samples (`_kernel_weights`): where the paint is carried by the flow it moves by
    fractions of a pixel, as the plate does, and the Lanczos kernel keeps its fine texture (a
    bilinear sample at half a pixel keeps about half of it). A pixel whose ``exact`` flag is set
    takes its own position only (no averaging with the neighbours' patches, which at a motion
    boundary would belong to the other layer); the others average the patches around them, each
    sampled bilinearly. Values may overshoot [0, 1] slightly (Lanczos)."""
    h, w = nnf.shape[0], nnf.shape[1]
    hp, wp, ns = style.shape[0], style.shape[1], style.shape[2]
    for y in prange(h):
        wx = np.empty(taps, np.float32)
        wy = np.empty(taps, np.float32)
        for x in range(w):
            for c in range(ns):
                out[y, x, c] = 0.0
            n = 0
            rr = 0 if exact[y, x] else r
            # a pixel that averages its neighbours' patches is smoothed by the average anyway:
            # bilinear samples do there (and cost 16 times less)
            nt = taps if exact[y, x] else 2
            lo = nt // 2
            for dy in range(-rr, rr + 1):
                yy = y + dy
                if yy < 0 or yy >= h:
                    continue
                for dx in range(-rr, rr + 1):
                    xx = x + dx
                    if xx < 0 or xx >= w:
                        continue
                    sx = min(max(nnf[yy, xx, 0] - dx + r, 0.0), wp - 1.0)
                    sy = min(max(nnf[yy, xx, 1] - dy + r, 0.0), hp - 1.0)
                    x0 = int(np.floor(sx))
                    y0 = int(np.floor(sy))
                    _kernel_weights(np.float32(sx - x0), nt, wx)
                    _kernel_weights(np.float32(sy - y0), nt, wy)
                    for j in range(nt):
                        sj = min(max(y0 + j - lo + 1, 0), hp - 1)
                        for i in range(nt):
                            si = min(max(x0 + i - lo + 1, 0), wp - 1)
                            wgt = wy[j] * wx[i]
                            for c in range(ns):
                                out[y, x, c] += wgt * style[sj, si, c]
                    n += 1
            for c in range(ns):
                out[y, x, c] /= np.float32(n)


@njit(cache=True, parallel=True)
def styleblit(px, py, tgt, src, total, threshold, steps, widths, offsets, jx, jy, out, err):
    """StyleBlit's seed hierarchy per pixel (see `styleblit.styleblit`, the reference in numpy).

    ``px``/``py`` (h, w) int64 rounded keyframe coordinates; ``steps`` the seed spacing of each
    level, coarse first; ``jx``/``jy`` the frozen jitter tables of all levels, flattened, level k
    starting at ``offsets[k]`` with ``widths[k]`` cells per row. Writes source coordinates into
    ``out`` (h, w, 2) int32 and the guide error (0..255 RMS) into ``err``."""
    h, w = px.shape[0], px.shape[1]
    hs, ws, ng = src.shape[0], src.shape[1], src.shape[2]
    nlev = steps.shape[0]
    for y in prange(h):
        for x in range(w):
            ux = min(max(px[y, x], 0), ws - 1)
            uy = min(max(py[y, x], 0), hs - 1)
            for k in range(nlev):
                step = steps[k]
                cw = widths[k]
                ch = (h // step) + 2
                cx0 = x // step
                cy0 = y // step
                best = 1 << 62
                qx = 0
                qy = 0
                for oy in range(-1, 2):
                    cy = min(max(cy0 + oy, 0), ch - 1)
                    for ox in range(-1, 2):
                        cx = min(max(cx0 + ox, 0), cw - 1)
                        cell = offsets[k] + cy * cw + cx
                        sx = min(max(cx * step + jx[cell], 0), w - 1)
                        sy = min(max(cy * step + jy[cell], 0), h - 1)
                        d = (sx - x) * (sx - x) + (sy - y) * (sy - y)
                        if d < best:
                            best = d
                            qx = sx
                            qy = sy
                cx_ = min(max(px[qy, qx] + (x - qx), 0), ws - 1)
                cy_ = min(max(py[qy, qx] + (y - qy), 0), hs - 1)
                acc = np.float32(0.0)
                for c in range(ng):
                    dd = tgt[y, x, c] - src[cy_, cx_, c]
                    acc += dd * dd
                if np.sqrt(acc / total) < threshold:
                    ux = cx_
                    uy = cy_
                    break
            acc = np.float32(0.0)
            for c in range(ng):
                dd = tgt[y, x, c] - src[uy, ux, c]
                acc += dd * dd
            out[y, x, 0] = ux
            out[y, x, 1] = uy
            err[y, x] = np.sqrt(acc / total)
