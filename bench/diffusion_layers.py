"""Each temporal layer of diffusion-image measured alone, at random weights on a CPU.

    python bench/diffusion_layers.py [--out bench/results/diffusion_layers.json]   (a minute, 2 cores)

The model is the test suite's tiny SD 1.x (`tests/tiny_models.build_sd`: random weights, a few
thousand parameters), so the numbers say what a layer does mechanically, not what it buys on real
weights: a random UNet paints noise-like texture unrelated to the plate, which is why its warp-error
ratios are in the thousands. Only the comparisons between configurations mean anything. Two plates,
each restyled in batches of 2 (prompt "oil painting", 6 steps, seed 1, no style reference):

- `test`: the suite's plate (`tests/tiny_models.translating_plate`: a texture panning 8 px a frame,
  exact motion vectors), 6 frames at 96x64, the configuration `tests/server/test_diffusion_temporal.py`
  asserts on;
- `sample`: the synthetic sample plate (parallax, occlusions, exact vectors), 8 frames at 128x72.

Configurations: every layer off; each layer alone; all on; all on but one. What each claims to do,
and what is measured for it:

- `warp_ratio`: `stylelock qc`'s short-term warp-error ratio on the plate's vectors, output over
  plate (flicker that does not follow the motion; flow fusion's claim);
- `colour_flicker`: `stylelock.core.metrics.colour_flicker`, the mean CIEDE2000 between consecutive
  frames' mean colours (a global colour flicker; the colour lock's claim);
- `still_grain`: on the same plate held still (its first frame repeated), the mean absolute change
  between consecutive outputs (the grain per-frame noise adds; shared noise's claim);
- `still_to_anchor`: on the still plate, the mean absolute difference of each output from the
  first (frames painting alike; cross-frame attention's claim).

With a style reference (the first plate frame, warmed), `palette_drift` is the mean CIEDE2000
between the reference's palette and each output's, without and with the colour lock alone.

Two more records on the `test` plate, the warp ratio of all layers on over all off: `chains`, with
no segment boundary inside the shot and with one after its fourth frame (`segment 4`), at batch 2
and 3 (what a farm chunk's restart costs); `hybrid`, `keyframe_every 3` (temporal layers on) on a
7-frame 64x48 plate panning 4 px a frame, against diffusing every frame with the layers on and off.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
from provenance import ROOT, SAMPLE_PLATE, SCORING, stamp
from sample_frames import sample_frames

sys.path.insert(0, str(ROOT / "tests"))

import tiny_models  # the suite's tiny model and plate, measured as the tests use them

from stylelock.core.metrics import colour_flicker, extract_palette, palette_drift, temporal_stability
from stylelock.server.engines.base import ModelFrame, StyleFrame
from stylelock.server.engines.diffusion import DiffusionImageEngine, ModelLibrary

#: The code these numbers measure (bench/provenance.py): the engine, the metrics, the tiny model and
#: the plates.
MEASURES = (
    "server/engines/diffusion",
    "server/engines/keyframe",
    *SCORING,
    *SAMPLE_PLATE,
    "tests/tiny_models.py",
    "bench/sample_frames.py",
    "bench/diffusion_layers.py",
)
LAYERS = ("shared_noise", "cross_frame_attention", "flow_fusion", "colour_lock")
OFF = dict.fromkeys(LAYERS, False)
BASE = {"model": "sd", "prompt": "oil painting", "steps": 6, "seed": 1, "batch": 2}
CONFIGS = {
    "off": OFF,
    **{f"{layer} alone": {**OFF, layer: True} for layer in LAYERS},
    "all on": {},
    **{f"all on but {layer}": {layer: False} for layer in LAYERS},
}


def restyle(library: ModelLibrary, frames: list[ModelFrame], params: dict, styles=()) -> list[np.ndarray]:
    import torch

    torch.set_num_threads(1)  # again each time: the hybrid's numba regions reset OpenMP's count
    engine = DiffusionImageEngine(models=library)
    shot = tiny_models.make_shot(engine, frames, {**BASE, **params}, styles=styles)
    return list(engine.restyle(shot, iter(frames)))


def warp_ratio(frames: list[ModelFrame], outputs: list[np.ndarray]) -> float:
    pairs = ((f.number, f.rgb, o, f.aovs) for f, o in zip(frames, outputs, strict=True))
    return float(temporal_stability(pairs)[1]["short"].ratio)


def still_grain(outputs: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(a - b).mean() for a, b in itertools.pairwise(outputs)]))


def still_to_anchor(outputs: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(o - outputs[0]).mean() for o in outputs[1:]]))


def held_still(frames: list[ModelFrame]) -> list[ModelFrame]:
    """The first frame repeated under each frame's number, its vectors zero."""
    first = frames[0]
    aovs = {name: np.zeros_like(plane) for name, plane in first.aovs.items() if "." in name}
    return [ModelFrame(number=f.number, rgb=first.rgb, aovs=aovs) for f in frames]


def measure_plate(library: ModelLibrary, frames: list[ModelFrame]) -> dict:
    still = held_still(frames)
    configs = {}
    for name, params in CONFIGS.items():
        moving, steady = restyle(library, frames, params), restyle(library, still, params)
        configs[name] = {
            "warp_ratio": round(warp_ratio(frames, moving), 1),
            "colour_flicker": round(colour_flicker(moving), 3),
            "still_grain": round(still_grain(steady), 4),
            "still_to_anchor": round(still_to_anchor(steady), 4),
        }
        print(name, configs[name], flush=True)
    warm = np.clip(frames[0].rgb * np.array([1.0, 0.6, 0.3], np.float32), 0.0, 1.0)
    reference = StyleFrame(rgb=warm, alpha=None, frame=None, digest="warm")
    palette = extract_palette(warm, k=8, seed=0)
    drift = {}
    for name in ("off", "colour_lock alone"):
        outputs = restyle(library, frames, CONFIGS[name], styles=(reference,))
        drifts = [palette_drift(palette, extract_palette(o, k=8, seed=0, init=palette)) for o in outputs]
        drift[name] = round(float(np.mean(drifts)), 2)
    height, width = frames[0].rgb.shape[:2]
    return {
        "frames": len(frames),
        "size": [width, height],
        "configs": configs,
        "palette_drift_to_reference": drift,
    }


def chains(library: ModelLibrary, frames: list[ModelFrame]) -> dict:
    """All on over all off, with and without a segment boundary after the fourth frame."""
    ratios = {}
    for batch in (2, 3):
        off = warp_ratio(frames, restyle(library, frames, {**OFF, "batch": batch}))
        for label, segment in (("no boundary", 24), ("boundary after frame 4", 4)):
            on = warp_ratio(frames, restyle(library, frames, {"batch": batch, "segment": segment}))
            ratios[f"batch {batch}, {label}"] = round(on / off, 2)
    return ratios


def hybrid(library: ModelLibrary) -> dict:
    frames = tiny_models.translating_plate(count=7, height=48, width=64, dx=4)
    ratio = {
        name: warp_ratio(frames, restyle(library, frames, {**params, "batch": 1}))
        for name, params in (("every frame, layers off", OFF), ("every frame, layers on", {}),
                             ("keyframe_every 3", {"keyframe_every": 3}))
    }  # fmt: skip
    return {
        "warp_ratio": {name: round(value, 1) for name, value in ratio.items()},
        "hybrid_over_layers_on": round(ratio["keyframe_every 3"] / ratio["every frame, layers on"], 2),
        "hybrid_over_layers_off": round(ratio["keyframe_every 3"] / ratio["every frame, layers off"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "diffusion_layers.json"))
    args = parser.parse_args(argv)
    import diffusers
    import torch

    measured = stamp("bench/diffusion_layers.py", MEASURES)  # before running: an edit shows as stale
    plates = {
        "test": tiny_models.translating_plate(count=6, height=64, width=96),
        "sample": sample_frames(128, 72, 8),
    }
    with tempfile.TemporaryDirectory(prefix="stylelock-layers-") as folder:
        library = ModelLibrary(models={"sd": tiny_models.build_sd(Path(folder) / "sd")})
        results = {name: measure_plate(library, frames) for name, frames in plates.items()}
        results["test"]["chains_all_on_over_all_off"] = chains(library, plates["test"])
        extra = {"hybrid": hybrid(library)}
        DiffusionImageEngine().close()
    report = {
        "benchmark": "diffusion-image temporal layers alone, tiny random-weight model",
        "provenance": measured,
        "params": BASE,
        "machine": {"platform": platform.platform(), "torch": torch.__version__},
        "diffusers": diffusers.__version__,
        "plates": results,
        **extra,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
