"""The keyframe engine at its defaults through the CLI's code, judged by `stylelock qc` against the bars.

    python bench/keyframe_qc.py [--out bench/results/keyframe_qc.json]      (minutes on 2 cores)

Each plate is written as EXRs, frame 1001 (or the range's first) is painted with the demo's
paint-over filter, the range is restyled with the `keyframe` engine's defaults through
`stylelock.server.pipeline.run_job` (the server's codec, files on disk) and measured with
`stylelock.core.qc.run_qc` at the plate's own size (so QC's DIS flow on a plate without vectors is
the one the engine followed). Plates:

- `sample_960x540`: the demo (`stylelock demo`'s plate and range, 1001-1024, exact vectors);
- `sample_960x540_1025_1048`: the next 24 frames of the same shot, painted at 1025;
- `sample_480x270`: the demo at half size;
- `sample_960x540_no_vectors_no_overscan`: the demo's frames as a live-action plate comes, without
  vectors and without overscan (DIS flow);
- `sample_960x540_no_vectors`: the demo without vectors but with its overscan (1056x594 of data),
  measured also at QC's default analysis size (960): DIS flow estimated on a resampled copy is not
  the flow the engine followed (docs/cli.md);
- `photo_640x360` and `photo_640x360_no_vectors`: `bench/photo_plate.py`'s plate (two photographs,
  camera move, a fast card, grain), with its exact vectors and without them.

Records seconds per frame, the warp-error ratios (short, long, anchor; full resolution, low-passed
at 1 px as QC gates, and the low-passed worst run of 5 pairs; with the share of pixels the long-term
pairs compared), the palette drift, keyframe fidelity (mean CIEDE2000 of the output's first frame
against the paint), the carried fine-texture ratio QC gates on (worst and mean frame; the
whole-frame ratio beside it), invented structure (% of the
worst frame) and which bars fail (1.25 / 1.5 / 2.0, invented 0.5 %, fidelity 1.0, texture 0.85).
Beside each run, ``carried_paint`` holds the same figures for the bench's reference: the keyframe's
paint carried by the plate's motion alone, no synthesis (`bench/carried_paint.py`); a bar that
even the reference misses measures more than the engine's carrying.
EbSynth itself is run by bench/keyframe_ebsynth.py (bench/ebsynth_build.sh builds it). Needs
scikit-image for the photo plate (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
from carried_paint import carry_paint
from keyframe import machine
from photo_plate import write_photo_plate
from provenance import SAMPLE_PLATE, SCORING, stamp

from stylelock.core.exr import ExrImage, ExrPart, read_exr, write_exr
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.core.qc import run_qc
from stylelock.core.qc.types import PICTURE_BARS, QcReport, QcThresholds
from stylelock.core.sample import write_sample_plate
from stylelock.core.sequence import FramePattern, parse_frames
from stylelock.server.cli.demo import paint_over
from stylelock.server.pipeline import run_job

#: The design's bars and the paint's: invented structure (% of the worst frame), keyframe fidelity
#: (mean CIEDE2000 against the paint) and the worst frame's carried fine-texture ratio.
BARS = PICTURE_BARS
#: The code these numbers measure (bench/provenance.py): the engine, QC and the flow and metrics it
#: scores with, the plates, the paint-over and the model space. The pipeline that carries the frames
#: between them is left out: its output is held to the plate by the round-trip tests.
MEASURES = (
    "server/engines/keyframe",
    "core/qc",
    *SCORING,
    "core/paint.py",
    *SAMPLE_PLATE,
    "bench/photo_plate.py",
    "bench/carried_paint.py",
    "bench/keyframe_qc.py",
)


def without_vectors(plate: str, folder: Path, frames: str, crop: bool) -> str:
    """The plate's RGBA only (no vectors), cropped to its display window when `crop` (no overscan)."""
    source, target = FramePattern.parse(plate), FramePattern.parse(str(folder / "plate.####.exr"))
    folder.mkdir(parents=True, exist_ok=True)
    for frame in parse_frames(frames):
        part = read_exr(source.path(frame)).main
        data = window = part.data_window
        if crop:
            window = part.display_window
        rows = slice(window.y - data.y, window.y - data.y + window.height)
        cols = slice(window.x - data.x, window.x - data.x + window.width)
        pixels = {c: np.ascontiguousarray(part.pixels[c][rows, cols]) for c in "RGBA"}
        stripped = ExrPart(list("RGBA"), pixels, window, part.display_window, 1.0, "zip", None, {})
        write_exr(target.path(frame), ExrImage(parts=[stripped]))
    return target.pattern


class Painted(NamedTuple):
    """A bench plate on disk and the paint-over of its first frame."""

    plate: str
    style: StyleReference


def paint_plate(folder: Path, write_plate: Callable[[Path], str], frames: str) -> Painted:
    """Write the plate into ``folder``/plate and paint its first frame with the demo's filter."""
    plate = write_plate(folder / "plate")
    first = parse_frames(frames)[0]
    painted = paint_over(plate, first, folder / f"painted.{first}.exr")
    return Painted(plate, StyleReference(str(painted), first))


def restyle(
    painted: Painted, frames: str, out_pattern: str, params: Mapping[str, str] | None = None
) -> float:
    """Restyle ``frames`` with the keyframe engine (its defaults but for ``params``) through the
    pipeline into ``out_pattern``; returns seconds per frame."""
    spec = JobSpec(
        plate=painted.plate,
        frames=frames,
        engine="keyframe",
        styles=(painted.style,),
        output=OutputSettings(pattern=out_pattern),
        params=dict(params or {}),
    )
    summary = run_job(spec)
    return round(summary.seconds / len(summary.outputs), 3)


def judge(
    painted: Painted,
    output: str,
    frames: str,
    *,
    thresholds: QcThresholds = BARS,
    report_dir: Path | None = None,
) -> QcReport:
    """`stylelock qc` on ``output`` against the bars, at the size the engine ran at."""
    return run_qc(
        painted.plate,
        output,
        frames,
        style=painted.style,
        thresholds=thresholds,
        report_dir=report_dir,
        analysis_size=analysis_size(painted.plate, painted.style.frame),
    )


def analysis_size(plate: str, frame: int) -> int:
    """The size the engine ran at: the larger side of the plate's data window."""
    data = read_exr(FramePattern.parse(plate).path(frame)).main.data_window
    return max(data.width, data.height)


def figures(report: QcReport, first: int) -> dict:
    """The bench's figures of one QC report (see the module docstring); ``first``: the keyframe."""
    ratios = {}
    for name, term in report.temporal.items():
        ratios[f"warp_ratio_{name}"] = _round(term.ratio)
        ratios[f"warp_ratio_{name}_lowpass"] = _round(term.ratio_lowpass)
        ratios[f"warp_ratio_{name}_lowpass_worst_run"] = _round(term.worst_run_ratio)
    data = report.to_dict()
    invented = data["invented"]["worst"]
    long_valid = [f.temporal.long.valid_fraction for f in report.per_frame if f.temporal.long is not None]
    return {
        **ratios,
        "keyframe_fidelity_de2000": _round(data["fidelity"].get(str(first))),
        "texture_ratio_worst": _round(data["texture"]["worst"]),
        "texture_ratio_mean": _round(data["texture"]["mean"]),
        "texture_ratio_carried_paint_worst": _round(data["texture_carried_paint"]["worst"]),
        "texture_ratio_whole_frame_worst": _round(data["texture_whole_frame"]["worst"]),
        "texture_ratio_whole_frame_mean": _round(data["texture_whole_frame"]["mean"]),
        "invented_percent_worst": _round(None if invented is None else 100 * invented),
        "invented_worst_frame": data["invented"]["worst_frame"],
        "long_valid_fraction": _round(float(np.mean(long_valid))) if long_valid else None,
        "palette_drift_de2000_mean": _round(float(np.mean([f.palette_drift for f in report.per_frame]))),
        "passes_bars": report.passed,
        "failed_bars": [c.name for c in report.checks if not c.passed],
        "notes": list(report.notes),
    }


def measure(
    folder: Path,
    write_plate: Callable[[Path], str],
    frames: str,
    *,
    default_size_too: bool = False,
    carried: bool = True,
) -> dict:
    """The engine's figures on one plate; with ``carried``, the carried paint's beside them."""
    painted = paint_plate(folder, write_plate, frames)
    output = str(folder / "out" / "styled.####.exr")
    seconds = restyle(painted, frames, output)
    report = judge(painted, output, frames)
    result = {
        "frames": frames,
        "size": list(report.analysis_size),
        "flow": report.flow_sources,
        "seconds_per_frame": seconds,
        **figures(report, painted.style.frame),
    }
    if default_size_too:
        resampled = run_qc(painted.plate, output, frames, style=painted.style)
        result["at_default_analysis_size"] = {
            "size": list(resampled.analysis_size),
            "warp_ratio_short": round(resampled.temporal["short"].ratio, 3),
            "warp_ratio_long": round(resampled.temporal["long"].ratio, 3),
        }
    if carried:
        reference = str(folder / "carried" / "styled.####.exr")
        carry_paint(painted.plate, painted.style.path, frames, reference)
        result["carried_paint"] = figures(judge(painted, reference, frames), painted.style.frame)
    return result


def _round(value: float | None) -> float | None:
    return round(float(value), 3) if value is not None and math.isfinite(value) else None


def plates() -> dict[str, tuple[Callable[[Path], str], str]]:
    def sample(size: tuple[int, int], frames: str) -> Callable[[Path], str]:
        return lambda folder: write_sample_plate(folder, frames, *size)

    def stripped(crop: bool) -> Callable[[Path], str]:
        return lambda folder: without_vectors(
            sample((960, 540), "1001-1024")(folder / "src"), folder, "1001-1024", crop
        )

    def photo(vectors: bool) -> Callable[[Path], str]:
        return lambda folder: write_photo_plate(folder, "1001-1024", (640, 360), vectors=vectors)

    return {
        "sample_960x540": (sample((960, 540), "1001-1024"), "1001-1024"),
        "sample_960x540_1025_1048": (sample((960, 540), "1025-1048"), "1025-1048"),
        "sample_480x270": (sample((480, 270), "1001-1024"), "1001-1024"),
        "sample_960x540_no_vectors_no_overscan": (stripped(True), "1001-1024"),
        "sample_960x540_no_vectors": (stripped(False), "1001-1024"),
        "photo_640x360": (photo(True), "1001-1024"),
        "photo_640x360_no_vectors": (photo(False), "1001-1024"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "keyframe_qc.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = {
        "benchmark": "keyframe engine defaults through the pipeline, measured by stylelock qc",
        "provenance": stamp("bench/keyframe_qc.py", MEASURES),
        "machine": machine(),
        "bars": {name: value for name, value in asdict(BARS).items() if value is not None},
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="stylelock-keyframe-qc-") as tmp:
        for name, (write_plate, frames) in plates().items():
            default_size_too = name == "sample_960x540_no_vectors"
            result["runs"][name] = measure(
                Path(tmp) / name, write_plate, frames, default_size_too=default_size_too
            )
            print(name, json.dumps(result["runs"][name]), flush=True)
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
