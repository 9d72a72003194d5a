"""Benchmark of the diffusion-image engine against plain diffusers img2img, in one run.

    python bench/diffusion.py                 # on a CUDA machine: writes bench/results/diffusion.json
    python bench/diffusion.py --smoke         # anywhere, tiny sizes, proves the script works

The model has the SD 1.5 architecture (UNet, VAE and CLIP text encoder built from the real SD 1.5
configs written below) at random weights, so nothing is downloaded; the tokenizer is a letter-level
CLIP tokenizer held in memory (the prompt's token count, not its vocabulary, sets the cost). The
pipeline is saved as a diffusers folder and loaded back through the engine's real loader.

The plate is the synthetic sample scene (`stylelock.core.sample.scene`: parallax, camera move,
occlusions, exact Nuke motion vectors) in plain sRGB. Every configuration restyles the same frames
at strength 0.6, 20 steps, guidance 7.5, measured in the same process:

- `plain-loop`: diffusers' StableDiffusionImg2ImgPipeline called frame by frame (the baseline);
- `plain-batch8`: the same pipeline handed 8 frames at once;
- `engine-temporal`: this engine, temporal layers on (shared noise, cross-frame attention, flow
  fusion on the plate's vectors, colour lock), frames batched;
- `engine-plain`: this engine with every temporal layer off;
- `engine-hybrid-k4`: `keyframe_every 4`, diffusion on every 4th frame (and the last), the keyframe
  engine carrying the frames between.

Seconds per frame are wall-clock over all frames of a timed run after a warm-up run (model loaded,
kernels chosen). Quality: the short-term warp-error ratio (output over plate, Lai et al., on the
plate's vectors; `stylelock qc`'s figure) of each configuration. Target for `engine-temporal` at
1024x576 on an H100: <= 0.12 s per frame (a goal; no GPU result of this bench is committed yet).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import SAMPLE_PLATE, SCORING, stamp
from sample_frames import sample_frames

from stylelock.core.errors import FramesMissingError
from stylelock.core.metrics import temporal_stability
from stylelock.core.params import validate_params
from stylelock.server.engines.base import ModelFrame, ShotContext
from stylelock.server.engines.diffusion import DiffusionImageEngine, ModelLibrary

#: The code these numbers measure (bench/provenance.py): both engines the configurations drive (the
#: hybrid carries frames with the keyframe engine), the metric, the sample plate and its model space.
MEASURES = (
    "server/engines/diffusion",
    "server/engines/keyframe",
    *SCORING,
    *SAMPLE_PLATE,
    "bench/sample_frames.py",
    "bench/diffusion.py",
)
PROMPT = "an oil painting with thick brush strokes"
STRENGTH, STEPS, GUIDANCE = 0.6, 20, 7.5
TEMPORAL_OFF = {
    "shared_noise": False,
    "cross_frame_attention": False,
    "flow_fusion": False,
    "colour_lock": False,
}

# The SD 1.5 component configs (stable-diffusion-v1-5), written out so nothing is fetched.
SD15_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": (
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}
SD15_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
SD15_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
SD15_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
}
# --smoke: the same structure at a few thousand parameters, for a CPU.
SMOKE_UNET = {
    **SD15_UNET,
    "block_out_channels": (16, 32, 32, 32),
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "cross_attention_dim": 32,
    "attention_head_dim": 2,
}
SMOKE_VAE = {**SD15_VAE, "block_out_channels": (8, 8, 16, 16), "layers_per_block": 1, "norm_num_groups": 8}
SMOKE_TEXT = {
    **SD15_TEXT,
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "projection_dim": 32,
}


def letter_tokenizer():
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2, ",": 3}
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def build_model(folder: Path, smoke: bool, device: str) -> Path:
    """Random-weight SD 1.5 (or its smoke-sized twin) saved as a diffusers folder in fp16/fp32."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**(SMOKE_UNET if smoke else SD15_UNET))
        vae = AutoencoderKL(**(SMOKE_VAE if smoke else SD15_VAE))
        text = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=0, eos_token_id=1, pad_token_id=1, **(SMOKE_TEXT if smoke else SD15_TEXT)
            )
        )
    pipe = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text,
        tokenizer=letter_tokenizer(),
        scheduler=PNDMScheduler(**SD15_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    if device.startswith("cuda"):
        pipe = pipe.to(dtype=torch.float16)
    pipe.save_pretrained(folder)
    return folder


def warp_ratio(frames: list[ModelFrame], outputs: list[np.ndarray]) -> float:
    pairs = ((f.number, f.rgb, o, f.aovs) for f, o in zip(frames, outputs, strict=True))
    return float(temporal_stability(pairs)[1]["short"].ratio)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_plain(
    folder: Path, frames: list[ModelFrame], device: str, batch: int, steps: int
) -> list[np.ndarray]:
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    pipe = _PLAIN.get(device)
    if pipe is None:
        pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
            folder, dtype=dtype, local_files_only=True, safety_checker=None, requires_safety_checker=False
        ).to(device)
        pipe.set_progress_bar_config(disable=True)
        _PLAIN[device] = pipe
    outputs = []
    for start in range(0, len(frames), batch):
        group = frames[start : start + batch]
        result = pipe(
            prompt=[PROMPT] * len(group),
            image=np.stack([f.rgb for f in group]),
            strength=STRENGTH,
            num_inference_steps=steps,
            guidance_scale=GUIDANCE,
            generator=[torch.Generator("cpu").manual_seed(f.number) for f in group],
            output_type="np",
        )
        outputs += [np.asarray(image, dtype=np.float32) for image in result.images]
    return outputs


_PLAIN: dict[str, object] = {}


def run_engine(
    library: ModelLibrary, frames: list[ModelFrame], device: str, params: dict
) -> list[np.ndarray]:
    engine = DiffusionImageEngine(device=device, models=library)
    by_number = {f.number: f for f in frames}

    def load(number: int) -> ModelFrame:
        if number not in by_number:
            raise FramesMissingError(f"the bench plate has no frame {number}")
        return by_number[number]

    shot = ShotContext(
        job_id="bench",
        frames=tuple(by_number),
        styles=(),
        params=validate_params(engine.name, engine.params, params),
        load_frame=load,
        device=device,
        plate_frames=tuple(sorted(by_number)),
    )
    return list(engine.restyle(shot, iter(frames)))


def timed(device: str, work) -> tuple[float, list[np.ndarray]]:
    sync(device)
    started = time.perf_counter()
    outputs = work()
    sync(device)
    return time.perf_counter() - started, outputs


def bench_size(
    folder: Path, device: str, width: int, height: int, count: int, batch: int, steps: int
) -> list[dict]:
    frames = sample_frames(width, height, count)
    library = ModelLibrary(models={"sd15": folder})
    base = {
        "model": "sd15",
        "prompt": PROMPT,
        "strength": STRENGTH,
        "steps": steps,
        "guidance": GUIDANCE,
        "seed": 7,
    }
    configs = [
        ("plain-loop", lambda fr: run_plain(folder, fr, device, 1, steps)),
        ("plain-batch8", lambda fr: run_plain(folder, fr, device, 8, steps)),
        ("engine-temporal", lambda fr: run_engine(library, fr, device, {**base, "batch": batch})),
        (
            "engine-plain",
            lambda fr: run_engine(library, fr, device, {**base, "batch": batch, **TEMPORAL_OFF}),
        ),
        ("engine-hybrid-k4", lambda fr: run_engine(library, fr, device, {**base, "keyframe_every": 4})),
    ]
    rows = []
    for name, work in configs:
        try:
            work(frames[: min(2, count)])  # warm-up: loads the model, picks kernels
            seconds, outputs = timed(device, lambda work=work: work(frames))
            row = {
                "config": name,
                "width": width,
                "height": height,
                "frames": count,
                "batch": {"plain-loop": 1, "plain-batch8": 8, "engine-hybrid-k4": 1}.get(name, batch),
                "seconds_per_frame": round(seconds / count, 4),
                "warp_error_ratio": round(warp_ratio(frames, outputs), 3),
            }
        except Exception as exc:  # one failing configuration must not lose the others' numbers
            row = {"config": name, "width": width, "height": height, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model and sizes (CPU): checks the script")
    parser.add_argument(
        "--out", default=None, help="JSON path (default bench/results/diffusion.json on CUDA)"
    )
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    import diffusers
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    if device == "cpu" and not args.smoke:
        print("no CUDA device: run with --smoke on a CPU", file=sys.stderr)
        return 2
    if args.smoke:
        torch.set_num_threads(1)
        sizes = [(64, 64, 4), (96, 64, 3)]
        steps, batch = 4, 2
    else:
        sizes = [(1024, 576, args.frames), (1920, 1088, max(8, args.frames // 2))]
        steps, batch = STEPS, args.batch
    measured = stamp("bench/diffusion.py", MEASURES)  # before running: an edit meanwhile shows as stale
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_model(Path(tmp) / "sd15-random", args.smoke, device)
        for width, height, count in sizes:
            results += bench_size(folder, device, width, height, count, batch, steps)
            DiffusionImageEngine().close()
    report = {
        "benchmark": "diffusion-image vs plain diffusers img2img",
        "provenance": measured,
        "model": "SD 1.5 architecture, random weights"
        if not args.smoke
        else "smoke-sized SD, random weights",
        "strength": STRENGTH,
        "steps": steps,
        "guidance": GUIDANCE,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "load_average": os.getloadavg()[0],
        "target_seconds_per_frame_1024x576": 0.12,
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    out = args.out or (None if args.smoke else "bench/results/diffusion.json")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {out}")
    failed = [r for r in results if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
