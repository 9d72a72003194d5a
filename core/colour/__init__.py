"""Colour management of the pipeline, over PyOpenColorIO: the one import for callers.

* `resolve_config` picks the OCIO config (flag, else `$OCIO`, else the bundled
  `stylelock.ocio_configs` config) and records what was used; `resolve_colorspace` names the plate's
  colour space in it (default: the `scene_linear` role) or fails listing close names.
* `ModelSpaceCodec` moves premultiplied scene-referred plate RGB into an engine's model space (an
  encoding into [0, 1] that looks like a display picture: `srgb`, or `acescct` for log) and back.
  What the encoding cannot carry (highlights above 1, negatives, NaN/Inf) is restored from the plate
  on the way back, never clipped; an unchanged model decodes to the plate bit for bit. The method and
  its measurements are in `stylelock.core.colour.codec` and docs/colour.md.
"""

from __future__ import annotations

from stylelock.core.colour.codec import ALPHA_EPSILON, EncodeState, ModelSpaceCodec
from stylelock.core.colour.config import (
    ResolvedConfig,
    bundled_config,
    close_names,
    resolve_colorspace,
    resolve_config,
)
from stylelock.core.jobspec import ENCODINGS

__all__ = [
    "ALPHA_EPSILON",
    "ENCODINGS",
    "EncodeState",
    "ModelSpaceCodec",
    "ResolvedConfig",
    "bundled_config",
    "close_names",
    "resolve_colorspace",
    "resolve_config",
]
