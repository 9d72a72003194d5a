"""StyleBlit (Sykora et al. 2019): a fast preview that copies whole chunks of the keyframe.

Seeds sit on a jittered grid at several scales (the jitter table depends on the seed only, so it
is frozen across frames). A pixel takes the source position of its nearest seed, as the flow-
advected keyframe coordinates say, offset by where the pixel sits relative to that seed; if the
guides disagree there by more than the threshold it tries the next finer scale. Blending the
chosen positions over a 3 x 3 neighbourhood (blend radius 1) smooths the chunk borders.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stylelock.server.engines.keyframe import rng


def _guide_error(
    tgt: np.ndarray, src: np.ndarray, ux: np.ndarray, uy: np.ndarray, total: float
) -> np.ndarray:
    diff = tgt - src[uy, ux]
    return np.sqrt(np.einsum("...c,...c->...", diff, diff) / np.float32(total))


@lru_cache(maxsize=32)
def _jitter(seed: int, level: int, ch: int, cw: int) -> tuple[np.ndarray, np.ndarray]:
    """The frozen jitter table of one level: a seed offset in [0, 2**level) per grid cell."""
    step = 2**level
    cells = np.arange(ch * cw, dtype=np.uint64)
    key = rng.mix(seed, level, 0x5B17)
    jx = (rng.draw(key, cells, 0) % np.uint64(step)).astype(np.int64).reshape(ch, cw)
    jy = (rng.draw(key, cells, 1) % np.uint64(step)).astype(np.int64).reshape(ch, cw)
    return jx, jy


def styleblit(
    positions: np.ndarray,
    tgt: np.ndarray,
    src: np.ndarray,
    total_weight: float,
    threshold: float,
    seed: int,
    top_level: int = 6,
) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates (h, w, 2) int32 and their guide error (h, w) for every target pixel.

    ``positions`` (h, w, 2) are keyframe coordinates advected to this frame; ``tgt`` and ``src``
    are weighted guides (h, w, G) and (hs, ws, G); errors are RMS guide differences in 0..255
    units, compared with ``threshold``. Runs the numba kernel when numba is present.
    """
    try:
        from stylelock.server.engines.keyframe import kernels_numba
    except ImportError:
        return styleblit_reference(positions, tgt, src, total_weight, threshold, seed, top_level)
    h, w = tgt.shape[:2]
    steps, widths, offsets, jxs, jys = [], [], [], [], []
    start = 0
    for level in range(top_level, 0, -1):
        step = 2**level
        cw, ch = w // step + 2, h // step + 2
        jx, jy = _jitter(seed, level, ch, cw)
        steps.append(step)
        widths.append(cw)
        offsets.append(start)
        jxs.append(jx.ravel())
        jys.append(jy.ravel())
        start += ch * cw
    out = np.empty((h, w, 2), np.int32)
    err = np.empty((h, w), np.float32)
    kernels_numba.styleblit(
        np.rint(positions[..., 0]).astype(np.int64),
        np.rint(positions[..., 1]).astype(np.int64),
        np.ascontiguousarray(tgt, dtype=np.float32),
        np.ascontiguousarray(src, dtype=np.float32),
        np.float32(total_weight),
        np.float32(threshold),
        np.array(steps, np.int64),
        np.array(widths, np.int64),
        np.array(offsets, np.int64),
        np.concatenate(jxs),
        np.concatenate(jys),
        out,
        err,
    )
    return out, err


def styleblit_reference(
    positions: np.ndarray,
    tgt: np.ndarray,
    src: np.ndarray,
    total_weight: float,
    threshold: float,
    seed: int,
    top_level: int = 6,
) -> tuple[np.ndarray, np.ndarray]:
    """`styleblit` in plain numpy: the readable reference the numba kernel is tested against."""
    h, w = tgt.shape[:2]
    hs, ws = src.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    # unclipped, so a seed whose point left the keyframe still places its chunk correctly
    px_src = np.rint(positions[..., 0]).astype(np.int64)
    py_src = np.rint(positions[..., 1]).astype(np.int64)
    ux = np.clip(px_src, 0, ws - 1)
    uy = np.clip(py_src, 0, hs - 1)
    done = np.zeros((h, w), dtype=bool)
    for level in range(top_level, 0, -1):
        step = 2**level
        cw, ch = w // step + 2, h // step + 2
        jx, jy = _jitter(seed, level, ch, cw)
        cx0, cy0 = xs // step, ys // step
        best = np.full((h, w), np.iinfo(np.int64).max, dtype=np.int64)
        qx = np.zeros((h, w), dtype=np.int64)
        qy = np.zeros((h, w), dtype=np.int64)
        for oy in (-1, 0, 1):
            for ox in (-1, 0, 1):
                cx = np.clip(cx0 + ox, 0, cw - 1)
                cy = np.clip(cy0 + oy, 0, ch - 1)
                sx = np.clip(cx * step + jx[cy, cx], 0, w - 1)
                sy = np.clip(cy * step + jy[cy, cx], 0, h - 1)
                d = (sx - xs) ** 2 + (sy - ys) ** 2
                closer = d < best
                best = np.where(closer, d, best)
                qx = np.where(closer, sx, qx)
                qy = np.where(closer, sy, qy)
        cand_x = np.clip(px_src[qy, qx] + (xs - qx), 0, ws - 1)
        cand_y = np.clip(py_src[qy, qx] + (ys - qy), 0, hs - 1)
        ok = ~done & (_guide_error(tgt, src, cand_x, cand_y, total_weight) < threshold)
        ux = np.where(ok, cand_x, ux)
        uy = np.where(ok, cand_y, uy)
        done |= ok
    err = _guide_error(tgt, src, ux, uy, total_weight).astype(np.float32)
    nnf = np.ascontiguousarray(np.stack([ux, uy], axis=-1).astype(np.int32))
    return nnf, err
