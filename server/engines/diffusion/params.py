"""The parameter schemas of the diffusion engines (pure data: hosts build their panels from these)."""

from __future__ import annotations

from stylelock.core.params import ParamSchema, ParamSpec

DTYPES = ("auto", "fp32", "fp16", "bf16")
SCHEDULERS = ("model", "ddim", "euler", "euler_a", "dpmpp_2m")

_MODEL = (
    ParamSpec("model", "string", "", "A model registered with the server (--model NAME=PATH) or a path."),
    ParamSpec("prompt", "string", "", "What the restyle should look like, in words."),
    ParamSpec("negative_prompt", "string", "", "What it should not look like."),
    ParamSpec(
        "strength",
        "float",
        0.55,
        "How far each frame may move from the plate: 0 returns the plate, 1 ignores it.",
        minimum=0.0,
        maximum=1.0,
    ),
    ParamSpec(
        "guidance", "float", 7.5, "Classifier-free guidance scale (1 = off).", minimum=0.0, maximum=30.0
    ),
    ParamSpec(
        "steps", "int", 20, "Sampler steps at strength 1 (strength x steps are run).", minimum=1, maximum=200
    ),
    ParamSpec("seed", "int", 0, "Noise seed; the noise of frame F is a pure function of (seed, F)."),
    ParamSpec(
        "dtype", "enum", "auto", "Weights precision; auto = fp16 on CUDA, fp32 on CPU.", choices=DTYPES
    ),
    ParamSpec(
        "scheduler",
        "enum",
        "model",
        "Sampler; `model` keeps the one the model ships with.",
        choices=SCHEDULERS,
        advanced=True,
    ),
)

_STYLE = (
    ParamSpec(
        "ip_adapter", "string", "", "IP-Adapter name or path; empty = the one registered.", advanced=True
    ),
    ParamSpec(
        "ip_adapter_scale",
        "float",
        0.6,
        "How strongly the style image steers the look through the IP-Adapter (0 = not at all).",
        minimum=0.0,
        maximum=2.0,
    ),
    ParamSpec(
        "style_only",
        "bool",
        True,
        "Feed the style image only to the style blocks of the UNet, so its layout does not leak in.",
    ),
    ParamSpec(
        "colour_lock", "bool", True, "Pull each output's palette to the style reference's (Lab statistics)."
    ),
    ParamSpec(
        "colour_lock_strength",
        "float",
        1.0,
        "How far the colour lock moves the palette (1 = all the way).",
        minimum=0.0,
        maximum=1.0,
        advanced=True,
    ),
)

_CONTROL = (
    ParamSpec(
        "controlnet_weight",
        "float",
        1.0,
        "ControlNet conditioning scale of every guide.",
        minimum=0.0,
        maximum=2.0,
    ),
    ParamSpec(
        "controlnet_start",
        "float",
        0.0,
        "Fraction of steps where guides start acting.",
        minimum=0.0,
        maximum=1.0,
    ),
    ParamSpec(
        "controlnet_end",
        "float",
        1.0,
        "Fraction of steps where guides stop acting.",
        minimum=0.0,
        maximum=1.0,
    ),
    ParamSpec(
        "controlnet_weights",
        "string",
        "",
        "Per-guide weights overriding the above: `depth=0.8,edges=0.4`.",
        advanced=True,
    ),
    ParamSpec("controlnet_starts", "string", "", "Per-guide start fractions: `edges=0.2`.", advanced=True),
    ParamSpec("controlnet_ends", "string", "", "Per-guide end fractions: `depth=0.6`.", advanced=True),
    ParamSpec(
        "controlnet_paths",
        "string",
        "",
        "ControlNets by path for this job, for guides the server has no ControlNet registered for: "
        "`edges=/models/cn-canny,depth=/models/cn-depth`.",
        advanced=True,
    ),
    ParamSpec(
        "canny_low", "int", 100, "Canny low threshold (8-bit luma).", minimum=0, maximum=255, advanced=True
    ),
    ParamSpec(
        "canny_high", "int", 200, "Canny high threshold (8-bit luma).", minimum=0, maximum=255, advanced=True
    ),
)

_TEMPORAL = (
    ParamSpec(
        "shared_noise", "bool", True, "The same latent noise for every frame (seed only, not frame number)."
    ),
    ParamSpec(
        "cross_frame_attention",
        "bool",
        True,
        "Self-attention of each frame also looks at the anchor (first) frame and the previous frame.",
    ),
    ParamSpec(
        "flow_fusion",
        "bool",
        True,
        "Blend the previous output, warped by the plate's motion, into the latents while sampling.",
    ),
    ParamSpec(
        "flow_fusion_strength",
        "float",
        0.75,
        "How much of the warped previous output enters where the motion is reliable.",
        minimum=0.0,
        maximum=1.0,
    ),
    ParamSpec(
        "flow_fusion_until",
        "float",
        0.7,
        "Fraction of the sampling steps during which the fusion acts (later steps refine detail).",
        minimum=0.0,
        maximum=1.0,
        advanced=True,
    ),
)

_VAE_TILING = ParamSpec(
    "vae_tiling",
    "enum",
    "auto",
    "Decode the VAE in tiles: auto = above 2K or after running out of memory.",
    choices=("auto", "on", "off"),
    advanced=True,
)

_SEGMENT_ORIGIN = ParamSpec(
    "segment_origin",
    "int",
    1001,
    "The frame the segment grid (and the keyframe and window grids) counts from.",
    advanced=True,
)

_RUN = (
    ParamSpec("batch", "int", 4, "Frames sampled together on the device.", minimum=1, maximum=64),
    _VAE_TILING,
)

IMAGE_PARAMS = ParamSchema(
    (
        *_MODEL,
        *_STYLE,
        *_CONTROL,
        *_TEMPORAL,
        ParamSpec(
            "keyframe_every",
            "int",
            0,
            "Restyle every Nth frame with diffusion and carry it to the frames between with the "
            "keyframe engine (0 = every frame with diffusion).",
            minimum=0,
            maximum=10000,
        ),
        ParamSpec(
            "segment",
            "int",
            24,
            "Frames per segment: the temporal layers chain frames within a segment (from its first "
            "frame, on a grid from segment_origin), so farm chunks match the unchunked run bit for bit; "
            "a chunk that starts mid-segment re-runs the segment's earlier frames. 0 = one chain from "
            "the job's first frame (chunks then differ).",
            minimum=0,
            maximum=100000,
        ),
        _SEGMENT_ORIGIN,
        *_RUN,
    )
)

VIDEO_PARAMS = ParamSchema(
    (
        *_MODEL,
        ParamSpec(
            "motion_adapter",
            "string",
            "",
            "AnimateDiff motion adapter name or path; empty = the one registered.",
        ),
        ParamSpec(
            "context", "int", 16, "Frames the motion model sees at once (one window).", minimum=2, maximum=64
        ),
        ParamSpec(
            "overlap",
            "int",
            4,
            "Frames shared by neighbouring windows, cross-faded to hide the seam.",
            minimum=0,
            maximum=63,
        ),
        _SEGMENT_ORIGIN,
        *_STYLE,
        ParamSpec(
            "shared_noise",
            "bool",
            True,
            "The same latent noise for every frame (seed only, not frame number).",
        ),
        _VAE_TILING,
    )
)
