"""Benchmark of the keyframe engine: seconds per frame and quality on the sample plate.

    python bench/keyframe.py [--frames 24] [--out bench/results/keyframe.json]

Renders the synthetic sample plate (`stylelock.core.sample.scene`: parallax, camera move,
occlusions, exact Nuke motion vectors) at 960x540 over the demo's 24 frames (so bench and
`stylelock demo` numbers compare directly), paints its first frame with the demo's
paint-over filter (`stylelock.core.paint`), and restyles it with the engine through its Engine
interface in several configurations, all measured in the same run:

- ebsynth, one keyframe, flow estimated by DIS; the same with the plate's motion vectors; and
  with vectors, EbSynth's own temporal weight (0.5) and no softening, for comparison;
- ebsynth, two keyframes (1001 and 1016, painted independently) merged by the Poisson blend;
- baselines: the StyleBlit preview mode, and one full-resolution PatchMatch sweep alone.

On a machine with CUDA it also runs the torch kernels at 1920x1080 (and 960x540). Seconds per
frame count only synthesized frames (keyframes are copies) and include flow and guides. Quality:
Lai et al. warp-error ratios (output over plate, short- and long-term, on the plate's exact
vectors, at full resolution and low-passed at 1 px as `stylelock qc` gates, with the worst run of
5 pairs; for the estimated-flow run also on DIS flow, as `stylelock qc` measures a plate without
vectors), the palette drift (CIEDE2000) of the output against the keyframe's palette, and what QC
measures of the paint: keyframe fidelity, carried fine-texture ratio (and the whole-frame one),
invented structure. The two
keyframes are painted independently (different brush strokes), so that run's long-term ratio
compares two different paintings. The numbers are measurements, not pass/fail checks. The machine's
load average is recorded: other processes on a shared CPU slow every number alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from provenance import SAMPLE_PLATE, SCORING, stamp
from sample_frames import FIRST, sample_frames

from stylelock.core.metrics import (
    LONG_K,
    InventedStructure,
    TemporalStability,
    extract_palette,
    mean_delta_e,
    palette_drift,
    temporal_stability,
    texture_ratio,
)
from stylelock.core.paint import paint_keyframe
from stylelock.server.engines.base import ModelFrame, ShotContext, StyleFrame
from stylelock.server.engines.keyframe import KeyframeEngine

log = logging.getLogger("bench.keyframe")
#: The second keyframe of the two-keyframe run: frame 1016 (issue 15's handover bar).
SECOND_KEY = 15

#: The code these numbers measure (bench/provenance.py): the engine, the flow and metrics that score
#: it, the sample plate, its paint-over and the model space it is decoded into.
MEASURES = (
    "server/engines/keyframe",
    *SCORING,
    "core/paint.py",
    *SAMPLE_PLATE,
    "bench/sample_frames.py",
    "bench/keyframe.py",
)


def run_job(frames, styles, params, vectors: bool):
    by_number = {f.number: f for f in frames}

    def load(n: int) -> ModelFrame:
        f = by_number[n]
        return f if vectors else ModelFrame(f.number, f.rgb, f.alpha, {}, f.scale)

    shot = ShotContext(
        job_id="bench",
        frames=tuple(by_number),
        styles=tuple(styles),
        params=params,
        load_frame=load,
        log=log,
    )
    keys = {s.frame for s in styles}
    engine = KeyframeEngine()
    outs, seconds = [], []
    started = time.perf_counter()
    for n, out in zip(by_number, engine.restyle(shot, (load(n) for n in by_number)), strict=True):
        now = time.perf_counter()
        if n not in keys:
            seconds.append(now - started)
        outs.append(out)
        started = time.perf_counter()
    return outs, seconds


def _long_valid(per_frame) -> float:
    """Mean share of pixels the long-term pairs compared (their paths passed every occlusion check)."""
    return round(float(np.mean([f.long.valid_fraction for f in per_frame if f.long is not None])), 3)


def _r(value: float | None) -> float | None:
    return round(float(value), 3) if value is not None and math.isfinite(value) else None


def quality(frames, outs, keys: dict[int, np.ndarray], estimated_too: bool = False) -> dict:
    """Warp-error ratios measured on the plate's exact vectors, at full resolution and low-passed
    at 1 px with their worst run of 5 pairs (and, when asked, on DIS flow, as `stylelock qc`
    measures a plate without vectors); the palette drift from the first keyframe; and against the
    painted ``keys`` (frame -> paint) what `stylelock qc` measures of the paint: fidelity at each
    keyframe, the worst frame's carried fine-texture ratio (QC's gate; the whole-frame ratio against
    the nearest keyframe beside it), and invented structure (% of the worst frame)."""
    long_k = min(LONG_K, len(frames) - 1)
    stability = TemporalStability(long_k=long_k)
    invented = InventedStructure([(n, frames[n - FIRST].rgb, paint) for n, paint in sorted(keys.items())])
    per_frame, fidelity, texture, carried_paint, whole_texture, made_up = [], {}, [], [], [], []
    for f, o in zip(frames, outs, strict=True):
        per_frame.append(stability.add(f.number, f.rgb, o, aovs=f.aovs))
        motion = stability.latest_motion()
        measured = invented.add(f.number, f.rgb, o, None if motion is None else motion[:2])[0]
        made_up.append(measured.fraction)
        if measured.texture_ratio is not None:
            texture.append(measured.texture_ratio)
            carried_paint.append(measured.carried_paint_texture_ratio)
        nearest = min(keys, key=lambda k: (abs(k - f.number), k))
        whole_texture.append(texture_ratio(o, keys[nearest]))
        if f.number in keys:
            fidelity[str(f.number)] = _r(mean_delta_e(o, keys[f.number]))
    summary = stability.summary()
    extra = {}
    if estimated_too:
        dis_frames, dis = temporal_stability(
            ((f.number, f.rgb, o) for f, o in zip(frames, outs, strict=True)), long_k=long_k
        )
        extra = {
            "warp_ratio_short_on_dis_flow": _r(dis["short"].ratio),
            "warp_ratio_long_on_dis_flow": _r(dis["long"].ratio),
            "warp_ratio_short_lowpass_on_dis_flow": _r(dis["short"].ratio_lowpass),
            "warp_ratio_long_lowpass_on_dis_flow": _r(dis["long"].ratio_lowpass),
            "long_valid_fraction_on_dis_flow": _long_valid(dis_frames),
        }
    first = min(keys)
    ref = extract_palette(keys[first], k=8)
    drift = [palette_drift(ref, extract_palette(o, k=8, init=ref)) for o in outs[1:]]
    measured = [m for m in made_up if m is not None]
    return {
        "warp_ratio_short": _r(summary["short"].ratio),
        "warp_ratio_long": _r(summary["long"].ratio),
        "warp_ratio_short_lowpass": _r(summary["short"].ratio_lowpass),
        "warp_ratio_long_lowpass": _r(summary["long"].ratio_lowpass),
        "warp_ratio_short_lowpass_worst_run": _r(summary["short"].worst_run_ratio),
        "warp_ratio_long_lowpass_worst_run": _r(summary["long"].worst_run_ratio),
        "long_pairs": summary["long"].pairs,
        "long_valid_fraction": _long_valid(per_frame),
        **extra,
        "palette_drift_de2000_mean": _r(float(np.mean(drift))),
        "palette_drift_de2000_max": _r(float(np.max(drift))),
        "keyframe_fidelity_de2000": fidelity,
        "texture_ratio_worst": _r(min(texture)) if texture else None,
        "texture_ratio_mean": _r(float(np.mean(texture))) if texture else None,
        "texture_ratio_carried_paint_worst": _r(min(carried_paint)) if carried_paint else None,
        "texture_ratio_whole_frame_worst": _r(min(whole_texture)),
        "texture_ratio_whole_frame_mean": _r(float(np.mean(whole_texture))),
        "invented_percent_worst": _r(100 * max(measured)) if measured else None,
    }


def one_sweep_seconds(frames, key, device: str) -> float:
    """The cost of a single full-resolution PatchMatch sweep (propagation + random search)."""
    from stylelock.server.engines.keyframe.backend import make_backend
    from stylelock.server.engines.keyframe.guides import GuideWeights, channel_scale, coords, plate_guides
    from stylelock.server.engines.keyframe.synth import build_source, identity_nnf

    backend = make_backend(device)
    h, w = key.shape[:2]
    weights = GuideWeights()
    scale = channel_scale(weights.style + weights.temporal, key.shape[2])  # as on the plate's vectors
    src = build_source(
        backend, plate_guides(frames[0].rgb, None, coords(h, w), w, weights, False), key, scale, 1, 5
    )[0]
    tgt_guides = plate_guides(frames[1].rgb, None, coords(h, w), w, weights, False)
    tgt = backend.pad(backend.asarray(np.concatenate([tgt_guides, key * np.float32(scale)], axis=2)), 2)
    nnf = backend.asarray(identity_nnf(h, w))
    err = backend.patch_errors(tgt, src.src, nnf, 5)
    occ = backend.occupancy(nnf, h, w, 5, 25.0)
    backend.sweep(tgt, src.src, nnf, err, occ, 3500.0, 5, [16, 8, 4, 2, 1], 1)  # warm
    runs = []
    for i in range(3):
        started = time.perf_counter()
        out = backend.sweep(tgt, src.src, nnf, err, occ, 3500.0, 5, [16, 8, 4, 2, 1], 2 + i)
        backend.numpy(out[1])  # wait for the device
        runs.append(time.perf_counter() - started)
    return float(np.median(runs))


def bench_size(width: int, height: int, count: int, device: str) -> dict:
    log.info("rendering %d sample frames at %dx%d", count, width, height)
    frames = sample_frames(width, height, count)
    key = paint_keyframe(frames[0].rgb)
    second = min(SECOND_KEY, count - 1)
    later = paint_keyframe(frames[second].rgb)
    one = [StyleFrame(key, None, FIRST, "first")]
    two = [*one, StyleFrame(later, None, FIRST + second, "second")]
    base = {"device": device}
    configs = {
        "ebsynth_1key_estimated_flow": (one, {**base, "flow": "estimated"}, False),
        "ebsynth_1key_plate_vectors": (one, base, True),
        "ebsynth_1key_plate_vectors_ebsynth_weights_crisp": (
            one,
            {**base, "temporal_weight": 0.5, "softness": 0.0},
            True,
        ),
        "ebsynth_2key_poisson_blend": (two, base, True),
        "styleblit_1key_plate_vectors": (one, {**base, "mode": "styleblit"}, True),
    }
    results = {}
    for name, (styles, params, vectors) in configs.items():
        log.info("%s", name)
        outs, seconds = run_job(frames, styles, params, vectors)
        results[name] = {
            "seconds_per_frame": round(float(np.mean(seconds)), 3),
            "seconds_per_frame_median": round(float(np.median(seconds)), 3),
            "frames_timed": len(seconds),
            **quality(frames, outs, {s.frame: s.rgb for s in styles}, estimated_too=not vectors),
        }
    sweep = one_sweep_seconds(frames, key, device)
    results["single_full_res_sweep"] = {"seconds": round(sweep, 4)}
    blit = results["styleblit_1key_plate_vectors"]["seconds_per_frame"]
    for r in results.values():
        if "seconds_per_frame" in r:
            r["ratio_to_styleblit"] = round(r["seconds_per_frame"] / blit, 2)
            r["ratio_to_one_sweep"] = round(r["seconds_per_frame"] / sweep, 2)
    return {"width": width, "height": height, "frames": count, "configs": results}


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    import numba
    import torch

    info["numba"] = numba.__version__
    info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    info["torch"] = torch.__version__
    info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "keyframe.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    report = {
        "benchmark": "keyframe engine",
        "provenance": stamp("bench/keyframe.py", MEASURES),
        "machine": machine(),
        "runs": [],
    }
    # compile (or load cached) kernels outside the timings
    tiny = sample_frames(96, 64, 3)
    run_job(tiny, [StyleFrame(paint_keyframe(tiny[0].rgb), None, FIRST, "k")], {"device": "cpu"}, True)
    report["runs"].append({"backend": "cpu (numba)", **bench_size(960, 540, args.frames, "cpu")})
    if torch.cuda.is_available():
        for w, h in ((960, 540), (1920, 1080)):
            report["runs"].append({"backend": "cuda (torch)", **bench_size(w, h, args.frames, "cuda")})
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
