"""Counter-based random numbers shared by every kernel: a pure function of (key, pixel, draw).

The same 32-bit mixer runs in numba (`kernels_numba.hash32`), torch (`kernels_torch.hash32`) and
here in numpy, so a seed gives the same numbers on every device and every chunking of a shot.
"""

from __future__ import annotations

import numpy as np

MASK32 = 0xFFFFFFFF


def hash32_int(value: int) -> int:
    x = value & MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


def mix(*values: int) -> int:
    """A 32-bit key from several integers (seed, frame, level, iteration, ...); order matters."""
    key = 0x9E3779B9
    for v in values:
        key = hash32_int(key ^ hash32_int(int(v) & MASK32) ^ ((int(v) >> 32) & MASK32))
    return key


def hash32(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64) & MASK32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & MASK32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & MASK32
    return x ^ (x >> np.uint64(16))


def draw(key: int, pixel: np.ndarray, k: int) -> np.ndarray:
    """The k-th random 32-bit number of each pixel index under `key` (as `kernels_numba.draw`)."""
    return hash32(hash32(hash32(pixel) ^ np.uint64(key & MASK32)) + np.uint64(k))
