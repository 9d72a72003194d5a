"""Merging the passes of two keyframes without a seam or a ghost (Jamriska et al. 2019, sec. 4).

Between keyframes A and B every frame has two candidates: carried forward from A and backward
from B. Cross-fading them ghosts (two textures on top of each other, and contrast drops where
they disagree); switching per pixel leaves seams. So:

1. per pixel, the pass with the lower (smoothed) synthesis error, weighted by the distance to its
   keyframe, is selected. EbSynth selects outright (``switch=0``): where both passes do equally
   well, every pixel changes hands at the midpoint, in one frame, and large regions pop at once
   (measured on the sample with two independently painted keyframes 15 frames apart: the worst
   frame's short-term warp ratio 27). By default the hand-over is soft instead: the weight of
   the forward pass ramps from 1 to 0 as the log of the error ratio crosses a band of width
   2 * ``switch``, so with equal errors a pixel changes hands over the middle ~64 % of the frames
   between the keyframes (worst frame 4.4, mean 5.4 -> 2.7, at the price of at most 12 % less fine
   detail mid-way, where the two paintings' strokes mix);
2. a histogram-preserving blend of the two (weights by distance to the keyframes, variance
   restored to what the two passes have, so the mix is not washed out) gives the low frequencies;
3. a screened Poisson equation takes its gradients from the selected pass (weighted by step 1's
   weights; with an outright switch, from the blend where the selection switches) and its low
   frequencies from step 2, solved exactly in the DCT domain.
"""

from __future__ import annotations

import numpy as np

#: Default half-width of the hand-over band, in natural-log units of the weighted error ratio.
SWITCH = 1.5

#: Screening weight of the Poisson solve (1 / pixels^2): details finer than ~1 / sqrt(LAMBDA)
#: pixels come from the selected pass, coarser structure from the histogram-preserving blend.
LAMBDA = 0.02


def histogram_blend(fwd: np.ndarray, bwd: np.ndarray, wb: float) -> np.ndarray:
    """Mean- and variance-preserving blend of two (h, w, c) images, ``wb`` the share of ``bwd``.

    Like Heitz and Neyret's (2018) blend it keeps the contrast a cross-fade of two uncorrelated
    textures would lose; unlike their formula it measures the blend's actual spread, so two
    passes that agree are not over-sharpened."""
    wf = 1.0 - wb
    out = np.empty_like(fwd)
    for c in range(fwd.shape[2]):
        f = fwd[..., c].astype(np.float64)
        b = bwd[..., c].astype(np.float64)
        mf, mb = f.mean(), b.mean()
        mix = wf * (f - mf) + wb * (b - mb)
        target = wf * f.std() + wb * b.std()
        spread = mix.std()
        gain = target / spread if spread > 1e-8 else 1.0
        out[..., c] = (wf * mf + wb * mb + mix * gain).astype(np.float32)
    return out


def _poisson(base: np.ndarray, gx: np.ndarray, gy: np.ndarray, lam: float) -> np.ndarray:
    """Solve lam * O - laplacian(O) = lam * base - div(g) with Neumann borders (DCT-II basis)."""
    import cv2

    h, w = base.shape
    div = gx.copy()
    div[:, 1:] -= gx[:, :-1]
    div += gy
    div[1:, :] -= gy[:-1, :]
    rhs = (lam * base - div).astype(np.float32)
    spec = cv2.dct(rhs)
    ky = 2.0 - 2.0 * np.cos(np.pi * np.arange(h) / h)
    kx = 2.0 - 2.0 * np.cos(np.pi * np.arange(w) / w)
    spec /= (lam + ky[:, None] + kx[None, :]).astype(np.float32)
    return cv2.idct(spec)


def _gradients(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = np.zeros_like(img)
    gy = np.zeros_like(img)
    gx[:, :-1] = img[:, 1:] - img[:, :-1]
    gy[:-1, :] = img[1:, :] - img[:-1, :]
    return gx, gy


def forward_weight(fwd_error: np.ndarray, bwd_error: np.ndarray, wb: float, switch: float) -> np.ndarray:
    """Per-pixel weight (h, w) of the forward pass in [0, 1] (step 1 of the module docstring).

    Lower smoothed error wins, scaled by the distance to each keyframe: on a tie the nearer
    keyframe's pass is chosen, and the farther one must be clearly better to take over. The
    errors are the synthesis's own (already smoothed by the caller)."""
    floor = np.float32(0.05 * float(fwd_error.mean() + bwd_error.mean()) + 1.0)
    cost_f = (fwd_error + floor) * np.float32(wb)
    cost_b = (bwd_error + floor) * np.float32(1.0 - wb)
    if switch <= 0:
        return (cost_f <= cost_b).astype(np.float32)
    margin = np.log(cost_b) - np.log(cost_f)
    return np.clip(0.5 + margin / np.float32(2.0 * switch), 0.0, 1.0).astype(np.float32)


def merge(
    fwd: np.ndarray,
    fwd_error: np.ndarray,
    bwd: np.ndarray,
    bwd_error: np.ndarray,
    wb: float,
    mode: str = "poisson",
    smooth: float = 3.0,
    switch: float = SWITCH,
) -> np.ndarray:
    """The merged (h, w, c) result of a forward and a backward pass; ``wb`` in (0, 1) is how far
    the frame is from the forward pass's keyframe (0 at it, 1 at the other one); ``switch`` is
    the half-width of the hand-over band (0: outright selection, as EbSynth)."""
    import cv2

    blended = histogram_blend(fwd, bwd, wb)
    if mode == "linear":
        return np.clip(blended, 0.0, 1.0)
    ef = cv2.GaussianBlur(fwd_error.astype(np.float32), (0, 0), smooth, borderType=cv2.BORDER_REPLICATE)
    eb = cv2.GaussianBlur(bwd_error.astype(np.float32), (0, 0), smooth, borderType=cv2.BORDER_REPLICATE)
    weight = forward_weight(ef, eb, wb, switch)
    out = np.empty_like(fwd)
    for c in range(fwd.shape[2]):
        fx, fy = _gradients(fwd[..., c])
        bx, by = _gradients(bwd[..., c])
        if switch <= 0:
            # an outright selection takes the winner's gradients as they are (bx + 1 * (fx - bx)
            # can be an ulp off fx); where it switches, the step comes from the blend, not a seam
            pick = weight > 0.5
            gx, gy = np.where(pick, fx, bx), np.where(pick, fy, by)
            mx, my = _gradients(blended[..., c])
            gx[:, :-1] = np.where(pick[:, 1:] == pick[:, :-1], gx[:, :-1], mx[:, :-1])
            gy[:-1, :] = np.where(pick[1:, :] == pick[:-1, :], gy[:-1, :], my[:-1, :])
        else:
            gx = bx + weight * (fx - bx)
            gy = by + weight * (fy - by)
        out[..., c] = _poisson(blended[..., c], gx, gy, LAMBDA)
    return np.clip(out, 0.0, 1.0)
