"""Quality metrics measured by `stylelock qc` and `bench/`: temporal stability, palette drift, NaN/Inf.

Pure numpy (and OpenCV for flow); no torch.
"""

from stylelock.core.metrics.lab import ciede2000, srgb_to_lab
from stylelock.core.metrics.palette import Palette, colour_flicker, extract_palette, palette_drift
from stylelock.core.metrics.sanity import NonFinite, nonfinite_counts
from stylelock.core.metrics.temporal import (
    LONG_K,
    WARP_ERROR_FLOOR,
    FrameTemporal,
    PairError,
    TemporalStability,
    TermSummary,
    summarise,
    temporal_stability,
    warp_error,
    warp_ratio,
)

__all__ = [
    "LONG_K",
    "WARP_ERROR_FLOOR",
    "FrameTemporal",
    "NonFinite",
    "PairError",
    "Palette",
    "TemporalStability",
    "TermSummary",
    "ciede2000",
    "colour_flicker",
    "extract_palette",
    "nonfinite_counts",
    "palette_drift",
    "srgb_to_lab",
    "summarise",
    "temporal_stability",
    "warp_error",
    "warp_ratio",
]
