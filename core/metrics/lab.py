"""Colour difference in CIELAB: sRGB (model space) -> XYZ (D65) -> L*a*b*, and CIEDE2000.

Model space is display-referred sRGB-encoded RGB in [0, 1] (`ModelSpaceCodec` with the default
``"srgb"`` encoding), so L*a*b* here is what a viewer on an sRGB display sees: the IEC 61966-2-1
transfer function, the sRGB primaries' matrix to CIE XYZ and the D65 white of that standard.

CIEDE2000 follows Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula:
implementation notes, supplementary test data, and mathematical observations", equations (1)-(22),
with k_L = k_C = k_H = 1; it is vectorised over any leading shape.
"""

from __future__ import annotations

import numpy as np

# sRGB (linear) -> XYZ, D65, from the sRGB primaries and white point (IEC 61966-2-1).
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
#: The reference white (D65, Y = 1) that L*a*b* is taken relative to: sRGB (1, 1, 1) maps to it.
D65_WHITE = _RGB_TO_XYZ.sum(axis=1)

_DELTA = 6.0 / 29.0


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """The sRGB decoding function (IEC 61966-2-1), float64; input clipped to [0, 1]."""
    c = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded RGB in [0, 1], shape (..., 3) -> CIE L*a*b* (D65), float64, same shape."""
    xyz = srgb_to_linear(rgb) @ _RGB_TO_XYZ.T
    t = xyz / D65_WHITE
    f = np.where(t > _DELTA**3, np.cbrt(t), t / (3.0 * _DELTA**2) + 4.0 / 29.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) (..., 3) -> sRGB-encoded RGB, clipped to [0, 1] (for showing swatches)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    t = np.where(f > _DELTA, f**3, 3.0 * _DELTA**2 * (f - 4.0 / 29.0))
    linear = np.clip((t * D65_WHITE) @ np.linalg.inv(_RGB_TO_XYZ).T, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1.0 / 2.4) - 0.055)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference between L*a*b* colours (..., 3); broadcasts; float64 (...)."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    # (2)-(7): a' and the primed chroma and hue.
    c_bar = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c_bar7 = c_bar**7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p = (1.0 + g) * a1
    a2p = (1.0 + g) * a2
    c1p = np.hypot(a1p, b1)
    c2p = np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)

    # (8)-(11): differences.
    dLp = L2 - L1
    dCp = c2p - c1p
    cc = c1p * c2p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(cc == 0, 0.0, dh)
    dHp = 2.0 * np.sqrt(cc) * np.sin(np.radians(dh) / 2.0)

    # (12)-(22): weighting functions.
    Lp_bar = 0.5 * (L1 + L2)
    Cp_bar = 0.5 * (c1p + c2p)
    hsum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180.0,
        0.5 * hsum,
        np.where(hsum < 360.0, 0.5 * (hsum + 360.0), 0.5 * (hsum - 360.0)),
    )
    h_bar = np.where(cc == 0, hsum, h_bar)
    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    cp7 = Cp_bar**7
    r_c = 2.0 * np.sqrt(cp7 / (cp7 + 25.0**7))
    lsq = (Lp_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * lsq / np.sqrt(20.0 + lsq)
    s_c = 1.0 + 0.045 * Cp_bar
    s_h = 1.0 + 0.015 * Cp_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c

    tl = dLp / s_l
    tc = dCp / s_c
    th = dHp / s_h
    return np.sqrt(np.maximum(tl**2 + tc**2 + th**2 + r_t * tc * th, 0.0))
