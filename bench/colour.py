"""The model-space codec: how exact its round trip is, what the alternatives would cost, how fast it is.

    python bench/colour.py [--out bench/results/colour.json]      (under a minute)

Accuracy, as the max relative error of RGB against the plate (floor 1e-4, NaN/Inf excluded), on a
plate of values 1e-4..1e4 with 20 % negatives, alpha 0..1 (0 with RGB, as glows have), in the
bundled config's `scene_linear` space (ACEScg), for each encoding:

- `unchanged`: decode(encode(plate)), the codec's round trip with an unchanged model;
- `residual_in_plate_space`: the alternative the codec does not use, the model's full inverse plus
  the residual the encoding left in the plate's space: OCIO^-1(m) + (plate - OCIO^-1(m0));
- `curve_alone`: the encoding's curve and OCIO's inverse of it, on values inside its range;
- `model_through_float16`: the model rounded to float16 on its way to decode (a half transport).

Speed: milliseconds of encode, decode of an unchanged model and decode of an edited one (the model
scaled by 0.9) on a 1920x1080 frame of values 1e-3..1.6 and on the sample plate's frame at
1920x1080 display (2112x1188 with overscan), the best and the median of 5 runs, with the machine's
load average (on a shared machine the best run is the one least disturbed by other processes).
`speed` is measured after the process has read an EXR through OpenImageIO, as the pipeline always
has; `speed_in_a_process_without_exr_reads` times the synthetic frame in a fresh process that
reads none: the codec's threaded OCIO passes were found several times slower when their thread
pool starts after OpenImageIO has read a file (a single-threaded pass is not), and both are
recorded so the difference stays visible.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import PyOpenColorIO as OCIO
from provenance import ROOT, stamp

from stylelock.core.colour import ENCODINGS, ModelSpaceCodec, resolve_config
from stylelock.core.exr import read_exr
from stylelock.core.sample import write_sample_plate

#: The code these numbers measure (bench/provenance.py): the codec, the config resolution and the
#: bundled config it draws its encodings from.
MEASURES = ("core/colour", "ocio_configs/stylelock.ocio", "bench/colour.py")
RUNS = 5


def hostile_plate(height: int = 96, width: int = 128, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    magnitude = 10.0 ** rng.uniform(-4.0, 4.0, (height, width, 3))
    sign = np.where(rng.random((height, width, 3)) < 0.2, -1.0, 1.0)
    alpha = rng.uniform(0.0, 1.0, (height, width)).astype(np.float32)
    alpha[: height // 8] = 0.0
    rgb = magnitude * sign * np.where(alpha > 0.0, alpha, 1.0)[..., None]
    return rgb.astype(np.float32), alpha


def relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    finite = np.isfinite(ref) & np.isfinite(out)
    error = np.abs(out[finite].astype(np.float64) - ref[finite]) / np.maximum(np.abs(ref[finite]), 1e-4)
    return float(error.max(initial=0.0))


def _processor(src: str, dst: str) -> OCIO.CPUProcessor:
    config = resolve_config(None).config
    return config.getProcessor(src, dst).getOptimizedCPUProcessor(OCIO.OPTIMIZATION_LOSSLESS)


def _apply(processor: OCIO.CPUProcessor, rgb: np.ndarray) -> np.ndarray:
    pixels = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 3).copy()
    processor.applyRGB(pixels)
    return pixels.reshape(rgb.shape)


def accuracy(encoding: str) -> dict:
    rgb, alpha = hostile_plate()
    codec = ModelSpaceCodec(resolve_config(None), None, encoding)
    model, state = codec.encode(rgb, alpha)
    divisor = np.where(alpha > 1e-6, alpha, 1.0)[..., None]
    inverse = _processor(codec.encoded_space, codec.input_space)
    residual = rgb / divisor - _apply(inverse, model)
    alternative = (_apply(inverse, model) + residual) * divisor
    curve = _processor(codec.linear_space, codec.encoded_space)
    back = _processor(codec.encoded_space, codec.linear_space)
    inside = np.random.default_rng(3).uniform(0.01, 0.99, (4096, 1, 3)).astype(np.float32)
    linear = _apply(back, inside)
    half = model.astype(np.float16).astype(np.float32)
    return {
        "unchanged": relative_error(codec.decode(model, state), rgb),
        "residual_in_plate_space": relative_error(alternative, rgb),
        "curve_alone": relative_error(_apply(back, _apply(curve, linear)), linear),
        "model_through_float16": relative_error(codec.decode(half, state), rgb),
    }


def milliseconds(work) -> dict[str, float]:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(1000.0 * (time.perf_counter() - started))
    return {"best": round(min(times), 1), "median": round(statistics.median(times), 1)}


def speed(name: str, rgb: np.ndarray, alpha: np.ndarray | None, encoding: str) -> dict:
    codec = ModelSpaceCodec(resolve_config(None), None, encoding)
    model, state = codec.encode(rgb, alpha)
    edited = model * np.float32(0.9)
    height, width = rgb.shape[:2]
    return {
        "frame": name,
        "size": [width, height],
        "encoding": encoding,
        "encode_ms": milliseconds(lambda: codec.encode(rgb, alpha)),
        "decode_unchanged_ms": milliseconds(lambda: codec.decode(model, state)),
        "decode_edited_ms": milliseconds(lambda: codec.decode(edited, state)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "colour.json"))
    parser.add_argument("--without-exr", action="store_true", help="print only the timings of a process "
                        "that reads no EXR (run by the bench itself in a fresh process)")  # fmt: skip
    args = parser.parse_args(argv)
    ramp = np.random.default_rng(1).uniform(1e-3, 1.6, (1080, 1920, 3)).astype(np.float32)
    if args.without_exr:
        print(json.dumps([speed("values 1e-3..1.6", ramp, None, encoding) for encoding in ENCODINGS]))
        return 0
    measured = stamp("bench/colour.py", MEASURES)  # before running: an edit meanwhile shows as stale
    load_start = [round(x, 2) for x in os.getloadavg()]
    done = subprocess.run(
        [sys.executable, __file__, "--without-exr"], capture_output=True, text=True, check=True
    )
    fresh = json.loads(done.stdout)
    with tempfile.TemporaryDirectory(prefix="stylelock-colour-") as folder:
        sample = read_exr(write_sample_plate(folder, [1001], 1920, 1080).replace("####", "1001")).main
        sample_rgb, sample_alpha = np.ascontiguousarray(sample.rgb(), np.float32), sample.alpha()
    timings = [speed("values 1e-3..1.6", ramp, None, encoding) for encoding in ENCODINGS]
    timings.append(speed("sample plate frame 1001", sample_rgb, sample_alpha, "srgb"))
    report = {
        "benchmark": "model-space codec accuracy and speed",
        "provenance": measured,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "ocio": OCIO.__version__,
            "load_average_start": load_start,
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        },
        "max_relative_error": {encoding: accuracy(encoding) for encoding in ENCODINGS},
        "speed_in_a_process_without_exr_reads": fresh,
        "speed": timings,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
