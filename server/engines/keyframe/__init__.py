"""The `keyframe` engine: restyles a plate from painted keyframes, with no model weights.

Guided patch-based synthesis in the spirit of EbSynth (Jamriska et al. 2019, "Stylizing Video by
Example"): an artist paints over one or a few plate frames and the engine carries that paint
through the motion with PatchMatch on an image pyramid, steered by four guides (colour, edges,
flow-advected keyframe coordinates, the previous output warped by the flow) and a uniformity
term; several keyframes are merged per pixel by error with a histogram-preserving,
gradient-domain blend. A look image that is not a paint-over is first transferred onto one plate
frame by a luminance- and edge-guided synthesis. `mode=styleblit` is a fast preview in the
spirit of StyleBlit (Sykora et al. 2019).

This module imports only numpy and the engine base: numba and torch load when `restyle` runs.

Warm-up: every frame depends on the plate, its nearest keyframe before and after it, and the
plate frames between them, nothing else. A job that starts mid-way re-runs its passes from
those keyframes (read with `shot.load_frame`, nothing yielded), so `warmup_frames` is 0 and the
warm-up window is "from the nearest keyframe(s)"; farm chunks aligned on keyframes waste nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import MappingProxyType

import numpy as np

from stylelock.core.params import ParamSchema, ParamSpec
from stylelock.core.temporal import KEYFRAMES
from stylelock.server.engines.base import Engine, ModelFrame, ShotContext

PARAMS = ParamSchema(
    (
        ParamSpec(
            "mode",
            "enum",
            "ebsynth",
            "ebsynth: guided patch synthesis (final quality); styleblit: chunk copying, a fast preview.",
            choices=("ebsynth", "styleblit"),
        ),
        ParamSpec(
            "blend",
            "enum",
            "poisson",
            "How the passes of two keyframes merge: poisson (per-pixel "
            "choice by error, histogram-preserving and gradient-domain blend: no seam, no ghost), "
            "linear (histogram-preserving cross-fade only), nearest (only the nearer keyframe: "
            "half the cost).",
            choices=("poisson", "linear", "nearest"),
        ),
        ParamSpec(
            "switch",
            "float",
            1.5,
            "How gradually each pixel hands over from one keyframe's pass to the other's with "
            "blend=poisson (half-width of the band, in log error ratio): 0 switches outright as "
            "EbSynth (each pixel pops once between the keyframes); 1.5 spreads the hand-over over "
            "the middle ~64% of the frames, with slightly softer strokes mid-way.",
            minimum=0.0,
            maximum=5.0,
        ),
        ParamSpec(
            "patch_size",
            "int",
            5,
            "Patch side in pixels (odd). Larger keeps bigger brush "
            "strokes intact but follows fine motion less closely.",
            minimum=3,
            maximum=11,
        ),
        ParamSpec(
            "levels",
            "int",
            3,
            "Pyramid levels for frames carried from a keyframe (capped by "
            "the frame size). More levels recover larger disocclusions, at a small cost.",
            minimum=1,
            maximum=8,
        ),
        ParamSpec(
            "search_vote_iters",
            "int",
            2,
            "Search-and-vote iterations at each coarser pyramid level.",
            minimum=1,
            maximum=12,
            advanced=True,
        ),
        ParamSpec(
            "fine_iters",
            "int",
            1,
            "Search-and-vote iterations at full resolution: the costly "
            "ones; 2 sharpens difficult frames at about 1.6x the time.",
            minimum=1,
            maximum=6,
        ),
        ParamSpec(
            "patchmatch_iters",
            "int",
            2,
            "PatchMatch sweeps per search-and-vote iteration.",
            minimum=1,
            maximum=8,
            advanced=True,
        ),
        ParamSpec(
            "search_radius",
            "int",
            16,
            "Largest random-search step (pixels of each level) for "
            "carried frames; 0 searches the whole keyframe.",
            minimum=0,
            maximum=8192,
            advanced=True,
        ),
        ParamSpec(
            "uniformity",
            "float",
            3500.0,
            "How strongly the paint's texture is used evenly "
            "(EbSynth's units). 0 lets one patch repeat; higher spreads strokes but may pull "
            "texture from elsewhere.",
            minimum=0.0,
            maximum=100000.0,
        ),
        ParamSpec(
            "colour_weight",
            "float",
            6.0,
            "Weight of the colour guide (plate frame against the keyframe's plate frame).",
            minimum=0.0,
            maximum=100.0,
        ),
        ParamSpec(
            "edge_weight",
            "float",
            0.5,
            "Weight of the edge guide (difference of Gaussians).",
            minimum=0.0,
            maximum=100.0,
        ),
        ParamSpec(
            "positional_weight",
            "float",
            2.0,
            "Weight of the positional guide (keyframe "
            "coordinates carried by the flow): keeps paint where it was put.",
            minimum=0.0,
            maximum=100.0,
        ),
        ParamSpec(
            "temporal_weight",
            "float",
            4.0,
            "Weight of the temporal guide (previous output warped by the flow) on frames with the "
            "plate's motion vectors: less flicker, more smearing where the motion is wrong "
            "(translucent objects). EbSynth uses 0.5, which measured about twice the warp error on "
            "the sample plate.",
            minimum=0.0,
            maximum=100.0,
        ),
        ParamSpec(
            "estimated_temporal_weight",
            "float",
            6.0,
            "Weight of the temporal guide on frames whose motion is estimated (no vectors, or "
            "flow=estimated): higher than with vectors, which measured less flicker on plates "
            "without vectors at about the same invented paint.",
            minimum=0.0,
            maximum=100.0,
        ),
        ParamSpec(
            "softness",
            "float",
            0.0,
            "Gaussian softening in pixels of every output frame, keyframes included (0, the default, "
            "returns the paint exactly on its keyframe). Tracked paint is resampled from the keyframe "
            "with a Lanczos kernel, its detail band given back the contrast the kernel takes between "
            "pixels, which keeps its fine texture; softening trades that texture for "
            "less full-resolution shimmer of crisp lines moving by fractions of a pixel (on "
            "estimated flow, say), which the low-passed warp error QC gates on hardly sees.",
            minimum=0.0,
            maximum=3.0,
        ),
        ParamSpec(
            "style_weight",
            "float",
            1.0,
            "Weight of the style term (coherence of the synthesized texture with itself).",
            minimum=0.0,
            maximum=100.0,
            advanced=True,
        ),
        ParamSpec(
            "styleblit_threshold",
            "float",
            24.0,
            "styleblit mode: guide error (0-255 units) "
            "above which a chunk is split further. Lower gives smaller chunks.",
            minimum=1.0,
            maximum=255.0,
        ),
        ParamSpec(
            "look_frame",
            "int",
            -1,
            "For a look image: the plate frame it is transferred onto "
            "first. -1 means the plate's first frame on disk (every farm chunk picks the same one).",
            minimum=-(2**31),
            maximum=2**31 - 1,
        ),
        ParamSpec(
            "look_iters",
            "int",
            4,
            "For a look image: search-and-vote iterations per level of "
            "the one-off transfer onto the look frame.",
            minimum=1,
            maximum=12,
            advanced=True,
        ),
        ParamSpec(
            "flow",
            "enum",
            "auto",
            "Motion source: auto (the plate's motion vectors when it "
            "has them, else estimated), vectors (require them), estimated (OpenCV DIS).",
            choices=("auto", "vectors", "estimated"),
        ),
        ParamSpec(
            "flow_preset",
            "enum",
            "medium",
            "OpenCV DIS preset when flow is estimated.",
            choices=("ultrafast", "fast", "medium"),
            advanced=True,
        ),
        ParamSpec(
            "seed",
            "int",
            0,
            "Seed of the random search; results are a pure function of it.",
            minimum=0,
            maximum=2**31 - 1,
        ),
        ParamSpec(
            "device",
            "enum",
            "auto",
            "auto (CUDA when present), cpu (numba kernels) or cuda (torch kernels).",
            choices=("auto", "cpu", "cuda"),
        ),
    )
)


class KeyframeEngine(Engine):
    name = "keyframe"
    summary = (
        "Carries painted keyframes (or a look image) through the shot by guided patch synthesis "
        "(EbSynth-style, no model weights); several keyframes blend without seams."
    )
    params = PARAMS
    needs_style = True
    warmup_frames = 0
    """Warm-up is internal: each pass re-runs from its keyframe via `shot.load_frame`."""
    preview_params = MappingProxyType({"mode": "styleblit"})
    temporal = KEYFRAMES
    """A frame is made from the plate frames between its governing keyframes (`core.temporal`)."""

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        from stylelock.server.engines.keyframe.run import KeyframeRun

        values = PARAMS.defaults()
        values.update(shot.params)
        if values["device"] == "auto" and self.device.startswith("cuda"):
            values["device"] = self.device
        run = KeyframeRun(shot, values)
        torch = sys.modules.get("torch")
        threads = torch.get_num_threads() if torch is not None else None
        try:
            for frame in frames:
                if shot.is_cancelled():
                    return
                styled = run.render(frame)
                if styled is None:
                    return
                yield styled
        finally:
            # numba's parallel regions reset OpenMP's thread count, which torch shares: on a CPU a
            # different count changes the rounding of whatever torch runs next in this process
            # (a diffusion job, the hybrid's next keyframe), so it is put back
            if threads is not None:
                torch.set_num_threads(threads)
