"""Quality metrics measured by `stylelock qc` and `bench/`: temporal stability (full resolution and
low-passed), palette drift and distance, keyframe fidelity and fine texture, invented structure, NaN/Inf.

Pure numpy (and OpenCV for flow); no torch.
"""

from stylelock.core.metrics.fidelity import (
    FLAT_TEXTURE_ENERGY,
    TEXTURE_SIGMA,
    delta_e_map,
    fine_texture_energy,
    fine_texture_map,
    has_fine_texture,
    mean_delta_e,
    texture_ratio,
)
from stylelock.core.metrics.invented import FrameInvented, InventedStructure
from stylelock.core.metrics.lab import ciede2000, srgb_to_lab
from stylelock.core.metrics.palette import (
    Palette,
    colour_flicker,
    extract_palette,
    palette_distance,
    palette_drift,
)
from stylelock.core.metrics.sanity import NonFinite, nonfinite_counts
from stylelock.core.metrics.temporal import (
    LONG_K,
    LOWPASS_SIGMA,
    RUN_PAIRS,
    WARP_ERROR_FLOOR,
    FrameTemporal,
    PairError,
    TemporalStability,
    TermSummary,
    lowpass,
    summarise,
    temporal_stability,
    warp_error,
    warp_ratio,
    worst_run,
)

__all__ = [
    "FLAT_TEXTURE_ENERGY",
    "LONG_K",
    "LOWPASS_SIGMA",
    "RUN_PAIRS",
    "TEXTURE_SIGMA",
    "WARP_ERROR_FLOOR",
    "FrameInvented",
    "FrameTemporal",
    "InventedStructure",
    "NonFinite",
    "PairError",
    "Palette",
    "TemporalStability",
    "TermSummary",
    "ciede2000",
    "colour_flicker",
    "delta_e_map",
    "extract_palette",
    "fine_texture_energy",
    "fine_texture_map",
    "has_fine_texture",
    "lowpass",
    "mean_delta_e",
    "nonfinite_counts",
    "palette_distance",
    "palette_drift",
    "srgb_to_lab",
    "summarise",
    "temporal_stability",
    "texture_ratio",
    "warp_error",
    "warp_ratio",
    "worst_run",
]
