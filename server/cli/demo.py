"""`stylelock demo`: the embedded default end to end on the bundled sample plate.

Writes the sample plate, paints a keyframe over frame 1001 with a documented filter standing in
for an artist (`stylelock.core.paint.paint_keyframe`), restyles 1001-1024 with the `keyframe`
engine, then measures the result with `stylelock qc` and writes a contact sheet.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference

FIRST, LAST = 1001, 1024


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="restyle the bundled sample plate with the keyframe engine, then QC it"
    )
    parser.add_argument("folder", nargs="?", default="stylelock-demo", help="output folder")
    parser.add_argument("--size", default="960x540", help="plate size WIDTHxHEIGHT (default 960x540)")
    parser.add_argument("--engine", default="keyframe", help="engine to demo (default keyframe)")
    parser.set_defaults(run=run)


def paint_over(plate_pattern: str, frame: int, out_path: Path) -> Path:
    """Write a painted version of plate `frame` as an EXR in the plate's colour space."""
    from stylelock.core.colour import ModelSpaceCodec, resolve_config
    from stylelock.core.exr import write_exr
    from stylelock.core.paint import paint_keyframe
    from stylelock.core.sequence import FramePattern
    from stylelock.server.frames import FrameCodec

    codec = FrameCodec(ModelSpaceCodec(resolve_config(None)))
    decoded = codec.decode_file(frame, FramePattern.parse(plate_pattern).path(frame))
    painted = paint_keyframe(decoded.model.rgb)
    image = codec.encode_result(decoded, painted)
    write_exr(out_path, image, extra_attributes={"stylelock:paint": "demo paint_keyframe filter"})
    return out_path


def run(args: argparse.Namespace) -> int:
    from stylelock.core.sample import write_sample_plate
    from stylelock.server.cli.interrupt import ctrl_c_cancels
    from stylelock.server.cli.progress import ProgressBar
    from stylelock.server.cli.sample import parse_size
    from stylelock.server.pipeline import run_job

    folder = Path(args.folder)
    width, height = parse_size(args.size)
    frames = range(FIRST, LAST + 1)
    print(f"1/4 writing the sample plate ({width}x{height}, {FIRST}-{LAST}) to {folder / 'plate'}")
    plate = write_sample_plate(folder / "plate", frames=list(frames), width=width, height=height)
    print(f"2/4 painting keyframe {FIRST} (stand-in for the artist's paint-over)")
    painted = paint_over(plate, FIRST, folder / "paint" / f"painted.{FIRST}.exr")
    spec = JobSpec(
        plate=plate,
        frames=f"{FIRST}-{LAST}",
        engine=args.engine,
        styles=(StyleReference(str(painted), FIRST),),
        output=OutputSettings(pattern=str(folder / "out" / "styled.####.exr")),
    )
    print(f"3/4 restyling {FIRST}-{LAST} with the {spec.engine} engine")
    cancel = threading.Event()
    with ctrl_c_cancels(cancel):
        summary = run_job(spec, observer=ProgressBar(), cancel=cancel)
    print(f"    {len(summary.outputs)} frames in {summary.seconds:.1f}s -> {spec.output.pattern}")
    print("4/4 measuring flicker, palette, fidelity, fine texture, invented structure; contact sheet")
    report = _qc(spec, folder / "qc")
    sheet = _contact_sheet(spec, painted, folder / "contact_sheet.png")
    print()
    print(f"restyled frames: {folder / 'out'}")
    print(f"painted keyframe: {painted}")
    print(f"QC report:       {folder / 'qc' / 'qc.html'} ({report})")
    print(f"contact sheet:   {sheet}")
    return 0


def _qc(spec: JobSpec, folder: Path) -> str:
    from stylelock.core.qc import run_qc
    from stylelock.core.qc.types import PICTURE_BARS

    report = run_qc(
        spec.plate,
        spec.output.pattern or "",
        spec.frames,
        style=spec.styles[0],
        report_dir=folder,
        thresholds=PICTURE_BARS,
    )
    checks = ", ".join(
        f"{check.name} not measured ({check.reason})"
        if check.value is None
        else f"{check.name} {check.value:.2f} {'<=' if check.passed else '>'} {check.limit}"
        for check in report.checks
    )
    return f"{'passed' if report.passed else 'FAILED'}: {checks}"


def _contact_sheet(spec: JobSpec, painted: Path, path: Path) -> Path:
    from stylelock.core.colour import ModelSpaceCodec, resolve_config
    from stylelock.core.contact_sheet import write_contact_sheet
    from stylelock.core.exr import read_exr
    from stylelock.core.sequence import FramePattern

    codec = ModelSpaceCodec(resolve_config(None))

    def view(path: str) -> object:
        """The display window of a frame in model space (overscan cropped)."""
        part = read_exr(path).main
        model = codec.encode(part.rgb(), part.alpha())[0]
        data, display = part.data_window, part.display_window
        x0, y0 = max(display.x - data.x, 0), max(display.y - data.y, 0)
        return model[y0 : y0 + display.height, x0 : x0 + display.width]

    picks = [FIRST, FIRST + 5, FIRST + 11, FIRST + 17, LAST]
    plate = FramePattern.parse(spec.plate)
    out = FramePattern.parse(spec.output.pattern or "")
    rows = [
        ("plate", [(str(f), view(plate.path(f))) for f in picks]),
        ("styled", [(str(f), view(out.path(f))) for f in picks]),
        ("keyframe", [(f"painted {FIRST}", view(str(painted)))]),
    ]
    return write_contact_sheet(path, rows)
