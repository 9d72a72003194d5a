"""StyleLock's keyframe engine and EbSynth itself on the same plates and keyframe, judged by the same QC.

    python bench/keyframe_ebsynth.py --ebsynth PATH [--out bench/results/keyframe_ebsynth.json]
                                                          (about 15 minutes on 2 cores)

EbSynth is the public reference source (github.com/jamriska/ebsynth), its CPU build
(`bench/ebsynth_build.sh`); the bench takes the binary's path and the product never uses it. It is
run once per frame with the four-guide video recipe Rerender-A-Video drives it with: the plate's
colour (weight 6), its edges (0.5), a temporal guide (the painted keyframe against EbSynth's own
previous output carried to this frame along the plate's motion, 0.5) and a positional guide
(keyframe coordinates against those coordinates carried along the plate's motion, 2). The guides
are 8-bit PNGs of the plate in the engine's model space (EbSynth reads nothing else); its output
goes back into the plate's EXR the way the engine's does (`FrameCodec.encode_result`).

StyleLock runs at its defaults through `stylelock.server.pipeline.run_job`. Both outputs are measured
by `stylelock.core.qc.run_qc` at the plate's own size with the bars of `bench/keyframe_qc.py`
(warp-error ratios low-passed and at full resolution, palette drift, keyframe fidelity, fine
texture, invented structure), plus seconds per frame. Plates: the demo (960x540, 1001-1024, its
exact vectors) and the photo plate (`bench/photo_plate.py`, 640x360, exact vectors). EbSynth's CPU
build draws random numbers inside OpenMP threads, so its figures vary a little run to run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from keyframe import machine
from keyframe_qc import MEASURES as KEYFRAME_QC_MEASURES
from keyframe_qc import Painted, figures, judge, measure
from photo_plate import write_photo_plate
from provenance import stamp

from stylelock.core.colour import ModelSpaceCodec, resolve_config
from stylelock.core.exr import write_exr
from stylelock.core.flow import flow_from_vectors, warp
from stylelock.core.jobspec import StyleReference
from stylelock.core.sample import write_sample_plate
from stylelock.core.sequence import FramePattern, parse_frames
from stylelock.server.frames import FrameCodec

#: The code these numbers measure (bench/provenance.py): as `bench/keyframe_qc.py`, whose runs this
#: bench repeats for StyleLock (without its carried-paint reference), and this script's EbSynth driver.
MEASURES = (
    *(path for path in KEYFRAME_QC_MEASURES if path != "bench/carried_paint.py"),
    "bench/keyframe_ebsynth.py",
)
#: Rerender-A-Video's EbSynth guide weights: colour, edges, temporal, positional.
WEIGHTS = {"colour": 6.0, "edges": 0.5, "temporal": 0.5, "positional": 2.0}


def _png(path: Path, image: np.ndarray) -> str:
    """An (h, w, 3) [0, 1] image as an 8-bit PNG (EbSynth's input)."""
    cv2.imwrite(str(path), np.round(np.clip(image, 0.0, 1.0)[..., ::-1] * 255.0).astype(np.uint8))
    return str(path)


def _edges(rgb: np.ndarray) -> np.ndarray:
    """The plate's edges as a guide: a difference of Gaussians of its luma, grey (0.5) where flat."""
    luma = rgb.mean(axis=-1).astype(np.float32)
    dog = cv2.GaussianBlur(luma, (0, 0), 1.0) - cv2.GaussianBlur(luma, (0, 0), 2.0)
    return np.repeat(np.clip(0.5 + 4.0 * dog, 0.0, 1.0)[..., None], 3, axis=-1)


def _coordinates(h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs / max(w - 1, 1), ys / max(h - 1, 1), np.zeros_like(xs)], axis=-1)


def run_ebsynth(binary: str, plate: str, painted: str, frames: str, out_pattern: str, work: Path) -> float:
    """EbSynth over ``frames`` of ``plate`` from the keyframe painted on the first; the output EXRs go
    to ``out_pattern``. Returns seconds per synthesized frame (EbSynth's runs, guides included)."""
    numbers = parse_frames(frames)
    codec = FrameCodec(ModelSpaceCodec(resolve_config(None)))
    source = FramePattern.parse(plate)
    target = FramePattern.parse(out_pattern)
    Path(target.path(numbers[0])).parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    key = codec.decode_file(numbers[0], source.path(numbers[0]))
    paint = np.clip(codec.decode_file(numbers[0], painted).model.rgb, 0.0, 1.0)
    h, w = paint.shape[:2]
    style = _png(work / "style.png", paint)
    key_colour = _png(work / "key_colour.png", key.model.rgb)
    key_edges = _png(work / "key_edges.png", _edges(key.model.rgb))
    key_position = _png(work / "key_position.png", _coordinates(h, w))
    write_exr(target.path(numbers[0]), codec.encode_result(key, paint))  # the keyframe is the paint
    previous, positions = paint, _coordinates(h, w)
    seconds = 0.0
    for n in numbers[1:]:
        frame = codec.decode_file(n, source.path(n))
        back = flow_from_vectors(frame.model.aovs, "backward")
        if back is None:
            raise SystemExit(f"plate frame {n} has no backward vectors: the temporal guide needs them")
        start = time.perf_counter()
        positions = warp(positions, back)
        carried = warp(previous, back)
        out = work / f"out.{n}.png"
        guides = [
            (key_colour, _png(work / "colour.png", frame.model.rgb), WEIGHTS["colour"]),
            (key_edges, _png(work / "edges.png", _edges(frame.model.rgb)), WEIGHTS["edges"]),
            (style, _png(work / "temporal.png", carried), WEIGHTS["temporal"]),
            (key_position, _png(work / "position.png", positions), WEIGHTS["positional"]),
        ]
        command = [binary, "-style", style]
        for a, b, weight in guides:
            command += ["-guide", a, b, "-weight", str(weight)]
        command += ["-output", str(out)]
        subprocess.run(command, check=True, capture_output=True)
        seconds += time.perf_counter() - start
        previous = cv2.imread(str(out), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
        write_exr(target.path(n), codec.encode_result(frame, previous))
    return seconds / max(len(numbers) - 1, 1)


def measure_ebsynth(binary: str, folder: Path, write_plate: Callable[[Path], str], frames: str) -> dict:
    """EbSynth's figures on the plate `measure` (bench/keyframe_qc.py) painted in ``folder``."""
    first = parse_frames(frames)[0]
    style = StyleReference(str(folder / f"painted.{first}.exr"), first)
    painted = Painted(write_plate(folder / "plate_ebsynth"), style)
    out = str(folder / "ebsynth" / "styled.####.exr")
    per_frame = run_ebsynth(binary, painted.plate, style.path, frames, out, folder / "ebsynth_work")
    return {"seconds_per_frame": round(per_frame, 3), **figures(judge(painted, out, frames), first)}


def plates() -> dict[str, tuple[Callable[[Path], str], str]]:
    return {
        "sample_960x540": (lambda f: write_sample_plate(f, "1001-1024", 960, 540), "1001-1024"),
        "photo_640x360": (lambda f: write_photo_plate(f, "1001-1024", (640, 360), vectors=True), "1001-1024"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ebsynth", default=os.environ.get("STYLELOCK_EBSYNTH"), help="EbSynth binary")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "keyframe_ebsynth.json"))
    parser.add_argument("--only", help="run only this plate (a smoke run; the result is not for committing)")
    args = parser.parse_args(argv)
    if not args.ebsynth:
        parser.error("give --ebsynth PATH (bench/ebsynth_build.sh builds it) or set STYLELOCK_EBSYNTH")
    logging.basicConfig(level=logging.WARNING)
    result = {
        "benchmark": "keyframe engine defaults beside EbSynth (Rerender-A-Video guides), by stylelock qc",
        "provenance": stamp("bench/keyframe_ebsynth.py", MEASURES),
        "machine": machine(),
        "ebsynth": {"binary": args.ebsynth, "weights": WEIGHTS},
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="stylelock-keyframe-ebsynth-") as tmp:
        for name, (write_plate, frames) in plates().items():
            if args.only and name != args.only:
                continue
            folder = Path(tmp) / name
            stylelock = measure(folder, write_plate, frames, carried=False)
            ebsynth = measure_ebsynth(args.ebsynth, folder, write_plate, frames)
            result["runs"][name] = {"stylelock": stylelock, "ebsynth": ebsynth}
            print(name, json.dumps(result["runs"][name]), flush=True)
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
