"""The keyframe engine on a plate with photographic texture and grain, through the CLI's code.

    python bench/keyframe_photo.py [--out bench/results/keyframe_photo.json]

Writes `bench/photo_plate.py`'s plate (640x360, 1001-1024) twice, with its exact Nuke vectors and
without them (as a camera delivers it), paints frame 1001 with the demo's paint-over filter, and
for each plate restyles 1001-1024 with the `keyframe` engine's defaults through
`stylelock.server.pipeline.run_job` (EXRs on disk, the server's codec), then measures the result
with `stylelock.core.qc.run_qc` at the plate's own size (so QC's DIS flow on the vector-less plate
is the one the engine followed). Records seconds per frame, the warp-error ratios (short, long,
anchor, with the share of pixels the long-term pairs compared), the palette drift and the bars.
Needs scikit-image (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from keyframe import machine
from photo_plate import write_photo_plate
from provenance import stamp

from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.core.qc import run_qc
from stylelock.core.qc_types import QcThresholds
from stylelock.server.cli.demo import paint_over
from stylelock.server.pipeline import run_job

FRAMES = "1001-1024"
BARS = QcThresholds(max_warp_ratio=1.25, max_long_warp_ratio=1.5, max_delta_e=2.0)
#: The code these numbers measure (bench/provenance.py): the engine, QC and the flow and metrics it
#: scores with, the photo plate, the paint-over and the model space. The pipeline that carries the
#: frames between them is left out: its output is held to the plate by the round-trip tests.
MEASURES = (
    "server/engines/keyframe",
    "core/qc.py",
    "core/flow.py",
    "core/metrics",
    "core/paint.py",
    "core/colour_codec.py",
    "bench/photo_plate.py",
    "bench/keyframe_photo.py",
)


def measure(folder: Path, vectors: bool) -> dict:
    plate = write_photo_plate(folder / "plate", FRAMES, (640, 360), vectors=vectors)
    painted = paint_over(plate, 1001, folder / "painted.1001.exr")
    spec = JobSpec(
        plate=plate,
        frames=FRAMES,
        engine="keyframe",
        styles=(StyleReference(str(painted), 1001),),
        output=OutputSettings(pattern=str(folder / "out" / "styled.####.exr")),
    )
    summary = run_job(spec)
    report = run_qc(plate, spec.output.pattern or "", FRAMES, style=spec.styles[0], thresholds=BARS)
    long_valid = [f.temporal.long.valid_fraction for f in report.per_frame if f.temporal.long is not None]
    ratios = {
        f"warp_ratio_{name}": round(term.ratio, 3) if math.isfinite(term.ratio) else None
        for name, term in report.temporal.items()
    }
    return {
        "flow": report.flow_sources,
        "seconds_per_frame": round(summary.seconds / len(summary.outputs), 3),
        **ratios,
        "long_valid_fraction": round(float(np.mean(long_valid)), 3),
        "palette_drift_de2000_mean": round(float(np.mean([f.palette_drift for f in report.per_frame])), 3),
        "passes_bars": report.passed,
        "notes": list(report.notes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "keyframe_photo.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = {
        "benchmark": "keyframe engine on the photo plate",
        "provenance": stamp("bench/keyframe_photo.py", MEASURES),
        "machine": machine(),
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="stylelock-photo-") as tmp:
        for name, vectors in (("plate_vectors", True), ("no_vectors_dis_flow", False)):
            result["runs"][name] = measure(Path(tmp) / name, vectors)
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
