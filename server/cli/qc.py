"""`stylelock qc`: temporal stability, palette drift, what was kept of the paint (keyframe fidelity, fine
texture, invented structure) and NaN/Inf of a restyled sequence; a pipeline gate."""

from __future__ import annotations

import argparse
import json
import math


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "qc",
        help="measure flicker, palette drift and what was kept of the paint, against the plate",
        description="Measure a restyled sequence against its plate: flow-warped error as a ratio to the "
        "plate's own (short k=1, long k=10, against the keyframe; gated low-passed at 1 px, over the shot "
        "and its worst run of frames, full resolution reported beside), palette drift in CIEDE2000, and "
        "against painted keyframes (--style FRAME=PATH, repeatable) keyframe fidelity, fine-texture ratio "
        "and invented structure (paint neither the plate's motion nor a keyframe explains: a wake, a "
        "smear), and NaN/Inf counts. Exits 10 when a threshold is exceeded or cannot be measured; a "
        "threshold the range or the styles cannot ever measure is refused (exit 2). Example: stylelock qc "
        "'plate.####.exr' 'out/styled.####.exr' --frames 1001-1024 --style 1001=paint.exr "
        "--max-warp-ratio 1.25 --max-delta-e 2 --max-invented 0.25 --report qc/",
    )
    parser.add_argument("plate", help="plate pattern: plate.####.exr, %%04d, $F4")
    parser.add_argument("output", help="output pattern to check, e.g. out/styled.####.exr")
    parser.add_argument("--frames", help="frame range, e.g. 1001-1024 (default: every plate frame on disk)")
    parser.add_argument(
        "--style",
        metavar="[FRAME=]PATH",
        action="append",
        help="style reference the palette is measured against; FRAME=PATH painted keyframes (repeat "
        "for several) are what fidelity, fine texture and invented structure compare with",
    )
    parser.add_argument(
        "--max-warp-ratio", type=_positive, metavar="X", help="fail when the short-term ratio exceeds X"
    )
    parser.add_argument(
        "--max-long-warp-ratio", type=_positive, metavar="X", help="fail when the k=10 ratio exceeds X"
    )
    parser.add_argument(
        "--max-delta-e", type=_positive, metavar="Y", help="fail when the mean palette drift exceeds Y"
    )
    parser.add_argument(
        "--max-keyframe-delta-e",
        type=_positive,
        metavar="Y",
        help="fail when the output at a painted keyframe is more than Y CIEDE2000 (mean) from the paint",
    )
    parser.add_argument(
        "--min-texture-ratio",
        type=_positive,
        metavar="R",
        help="fail when a frame keeps less than R of its keyframe paint's fine texture (1 px detail, on "
        "the surfaces the keyframe saw)",
    )
    parser.add_argument(
        "--max-invented",
        type=_positive,
        metavar="P",
        help="fail when invented structure covers more than P %% of any frame",
    )
    parser.add_argument("--report", metavar="DIR", help="write qc.json and qc.html into DIR")
    parser.add_argument("--ocio", help="OCIO config file or ocio:// name (default: $OCIO, else bundled)")
    parser.add_argument("--colorspace", help="the plates' colour space (default: the scene_linear role)")
    parser.add_argument("--layer", default="", help="EXR layer to measure (default: the main RGB)")
    parser.add_argument(
        "--analysis-size", type=int, default=960, metavar="N", help="measure at most N pixels wide (960)"
    )
    parser.add_argument(
        "--flow-preset", choices=("ultrafast", "fast", "medium"), default="medium", help="DIS preset"
    )
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stylelock.core.qc import QcThresholds, run_qc

    thresholds = QcThresholds(
        max_warp_ratio=args.max_warp_ratio,
        max_long_warp_ratio=args.max_long_warp_ratio,
        max_delta_e=args.max_delta_e,
        max_keyframe_delta_e=args.max_keyframe_delta_e,
        min_texture_ratio=args.min_texture_ratio,
        max_invented=args.max_invented,
    )
    report = run_qc(
        args.plate,
        args.output,
        args.frames,
        style=args.style,
        thresholds=thresholds,
        report_dir=args.report,
        ocio=args.ocio,
        colorspace=args.colorspace,
        layer=args.layer,
        analysis_size=args.analysis_size,
        flow_preset=args.flow_preset,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_summary(report.to_dict()))
    return report.exit_code


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def format_summary(data: dict) -> str:
    lines = [f"qc {data['output']} against {data['plate']}, frames {data['frame_range']}"]
    lines.append(f"  flow: {', '.join(data['flow_sources']) or '-'}")
    for term in data["temporal"].values():
        k = "vs key" if term["k"] is None else f"k={term['k']}"
        lines.append(
            f"  warp error {term['term']:<6} ({k:>6}): ratio {_fmt(term.get('ratio_lowpass'))} low-passed "
            f"(worst run {_fmt(term.get('worst_run_ratio'))}), {_fmt(term['ratio'])} full resolution  "
            f"({term['pairs']} pairs)"
        )
    palette = data["palette"]
    lines.append(
        f"  palette drift vs {palette['reference']}: mean {_fmt(palette['mean_drift'])}, "
        f"max {_fmt(palette['max_drift'])} (frame {palette['worst_frame']})"
    )
    if data.get("keyframes"):
        fidelity = ", ".join(f"{frame} {_fmt(v)}" for frame, v in data["fidelity"].items()) or "-"
        tex, inv = data["texture"], data["invented"]
        lines.append(f"  keyframe fidelity (CIEDE2000 against the paint): {fidelity}")
        lines.append(
            f"  fine-texture ratio: mean {_fmt(tex['mean'])}, worst {_fmt(tex['worst'])} "
            f"(frame {tex['worst_frame']})"
        )
        worst = None if inv["worst"] is None else 100 * inv["worst"]
        lines.append(f"  invented structure: worst {_fmt(worst)} % of the frame (frame {inv['worst_frame']})")
    nf = data["nonfinite"]["output"]
    lines.append(f"  output NaN {nf['nan']}, Inf {nf['inf']}")
    for check in data["checks"]:
        if check["value"] is None:
            verdict = f"NOT MEASURED ({check['reason']})"
        else:
            verdict = "ok" if check["passed"] else "EXCEEDED"
        sign = ">=" if check.get("bound") == "min" else "<="
        lines.append(
            f"  check {check['name']}: {_fmt(check['value'])} {sign} {_fmt(check['limit'])}: {verdict}"
        )
    for note in data["notes"]:
        lines.append(f"  note: {note}")
    if data["html_path"]:
        lines.append(f"  report: {data['html_path']}")
    failed = [
        c["name"] + (" not measured" if c["value"] is None else "") for c in data["checks"] if not c["passed"]
    ]
    lines.append("PASS" if data["passed"] else f"FAIL: {'; '.join(failed)}")
    return "\n".join(lines)
