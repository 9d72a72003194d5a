"""Look inside one of the keyframe QC bench's plates: where its flicker and invented paint are.

    python bench/keyframe_probe.py PLATE [--folder DIR] [--frames A-B] [--maps F [F ...]] [--qc-only]
                                   [--param NAME=VALUE ... | --carried]
    python bench/keyframe_probe.py --list

A developer's tool, not a benchmark (it commits no result): `bench/keyframe_qc.py`'s own steps
restyle the plate (its plates, paint-over and engine defaults) into ``DIR`` and keeps everything
there: the plate's EXRs, the paint, the output, the bench's figures (``figures.json``), QC's report
with its per-frame plots and the worst frame's invented crop (``qc/qc.html``) and a per-frame table
(``per_frame.tsv``: the low-passed short- and long-term warp-error ratios, invented structure and
carried texture QC gated on). ``--maps`` adds, for each frame named, heat maps of where the
low-passed warp error lies (``maps/short.F.png`` against the frame before, ``maps/long.F.png``
against the frame `LONG_K` before along the chained motion): the output, its error and the plate's
own error on one scale, so flicker the plate does not explain shows as heat in the middle panel
only; and a map of where QC counts invented structure (``maps/invented.F.png``: the plate beside
the output, the counted paint tinted red). ``--qc-only`` measures an output already in ``DIR``
again (after editing QC, say); any other run first empties ``DIR/out``, so a trial of changed
engine code is not resumed from the last.
``--param temporal_weight=6`` (repeatable) restyles with an engine parameter other than the
bench's default, to try a change before making it (``figures.json`` records it). ``--carried``
writes the bench's reference instead of the engine's output: the keyframe's paint carried by the
plate's motion alone (`bench/carried_paint.py`), to see which of a plate's figures the engine's
synthesis adds to and which a faithful carry scores as well.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import keyframe_qc
import numpy as np
from carried_paint import carry_paint
from keyframe_qc import BARS, Painted, figures, judge, paint_plate, plates, restyle

from stylelock.core.flow import occlusion_mask, warp
from stylelock.core.jobspec import StyleReference
from stylelock.core.metrics.temporal import LONG_K, TemporalStability, warp_ratio
from stylelock.core.qc.run import _Reader
from stylelock.core.qc.types import QcReport
from stylelock.core.sequence import parse_frames

#: Columns of ``per_frame.tsv``.
COLUMNS = ("frame", "short_lowpass", "long_lowpass", "invented_percent", "texture_ratio")


def probe(
    name: str,
    folder: Path,
    frames: str | None = None,
    *,
    qc_only: bool = False,
    params: Mapping[str, str] | None = None,
    carried: bool = False,
) -> QcReport:
    """Restyle plate ``name`` into ``folder`` (unless ``qc_only``) and write its report there.
    ``params`` are engine parameters that replace the bench's defaults (a trial, not the bench);
    ``carried`` writes the bench's reference instead of the engine's output: the paint carried by
    the plate's motion alone (`bench/carried_paint.py`)."""
    write_plate, default_frames = plates()[name]
    if qc_only and frames is None:  # the range the output in the folder was made over
        frames = json.loads((folder / "figures.json").read_text())["frames"]
    frames = frames or default_frames
    first = parse_frames(frames)[0]
    output = str(folder / "out" / "styled.####.exr")
    thresholds = BARS
    if len(parse_frames(frames)) <= LONG_K:  # too short a range to gate the long term on
        thresholds = dataclasses.replace(BARS, max_long_warp_ratio=None)
    trial = dict(params or {})
    seconds = None
    if qc_only:
        style = StyleReference(str(folder / f"painted.{first}.exr"), first)
        painted = Painted(str(folder / "plate" / "plate.####.exr"), style)
    else:
        # a job's resume would keep frames an earlier trial wrote here (its key does not know the
        # engine's code): every trial starts from an empty output
        shutil.rmtree(folder / "out", ignore_errors=True)
        painted = paint_plate(folder, write_plate, frames)
        if carried:
            carry_paint(painted.plate, painted.style.path, frames, output)
        else:
            seconds = restyle(painted, frames, output, trial)
    report = judge(painted, output, frames, thresholds=thresholds, report_dir=folder / "qc")
    if not qc_only:
        record = {
            "frames": frames,
            "output": "carried paint" if carried else "engine",
            "params": trial,
            "size": list(report.analysis_size),
            "flow": report.flow_sources,
            "seconds_per_frame": seconds,
            **figures(report, first),
        }
        (folder / "figures.json").write_text(json.dumps(record, indent=2) + "\n")
    rows = ["\t".join(COLUMNS)]
    for f in report.per_frame:
        short, long = f.temporal.short, f.temporal.long
        invented = None if f.invented is None or f.invented.fraction is None else 100 * f.invented.fraction
        texture = None if f.invented is None else f.invented.texture_ratio
        values = (
            None if short is None else short.ratio_lowpass,
            None if long is None else long.ratio_lowpass,
        )
        cells = [str(f.frame), *(_cell(v) for v in (*values, invented, texture))]
        rows.append("\t".join(cells))
    (folder / "per_frame.tsv").write_text("\n".join(rows) + "\n")
    return report


def analysis_size(folder: Path, first: int) -> int:
    """The size `bench/keyframe_qc.py` measures the folder's plate at (`keyframe_qc.analysis_size`)."""
    return keyframe_qc.analysis_size(str(folder / "plate" / "plate.####.exr"), first)


def error_maps(folder: Path, frame: int, *, long_k: int = LONG_K) -> dict[str, tuple[float, Path]]:
    """Heat maps of the low-passed warp error at ``frame`` (short term, and long term when the
    folder holds the ``long_k`` frames before it), decoded, flowed and masked as QC does it (plate
    vectors when the plate has them, else DIS flow): each term's low-passed warp-error ratio and map."""
    first = parse_frames(json.loads((folder / "figures.json").read_text())["frames"])[0]
    reader = _Reader(None, None, "", analysis_size(folder, first))
    stability = TemporalStability(long_k=long_k)
    for number in range(max(first, frame - long_k), frame + 1):
        p = reader.read(str(folder / "plate" / f"plate.{number}.exr"), with_vectors=True)
        o = reader.read(str(folder / "out" / f"styled.{number}.exr"), with_vectors=False)
        stability.add(number, p.model, o.model, aovs=p.aovs, vector_scale=p.vector_scale)
    # QC's own streamed frames (low-passed) and its chain of their flows and masks: the map is
    # what the gate measured, not a re-implementation of it (these are the measure's internals)
    window = list(stability._window)
    (folder / "maps").mkdir(exist_ok=True)
    written: dict[str, tuple[float, Path]] = {}
    for term, steps in (("short", 1), ("long", long_k)):
        if len(window) <= steps:
            continue
        chain = stability._chain(window[-steps:])
        valid = (
            chain.visible_layer
            if steps == 1
            else chain.visible_layer & occlusion_mask(chain.fore, chain.back)
        )
        now, then = window[-1], window[-1 - steps]
        out_err = ((now.output_lp - warp(then.output_lp, chain.back)) ** 2).mean(axis=-1) * valid
        plate_err = ((now.plate_lp - warp(then.plate_lp, chain.back)) ** 2).mean(axis=-1) * valid
        scale = float(np.percentile(out_err, 99.5)) + 1e-12
        panels = [now.output_lp] + [
            np.repeat(np.clip(e / scale, 0, 1)[..., None], 3, -1) for e in (out_err, plate_err)
        ]
        path = folder / "maps" / f"{term}.{frame}.png"
        _write_png(path, np.concatenate(panels, axis=1))
        shown = max(int(valid.sum()), 1)  # QC's mean: over the pixels the masks keep
        ratio = warp_ratio(float(out_err.sum()) / shown, float(plate_err.sum()) / shown)
        written[term] = (ratio, path)
        print(f"{term} {frame}: low-passed warp-error ratio {ratio:.3f} -> {path}")
    return written


#: How strongly the invented-structure maps tint the output where QC counts invented paint.
TINT = 0.6


def invented_maps(folder: Path, frames: Sequence[int]) -> dict[int, tuple[float | None, Path]]:
    """Maps of where QC's invented-structure measure finds paint that follows neither the plate's
    motion nor a matching keyframe region, for each of ``frames``: the plate and the output, the
    counted pixels tinted red (``maps/invented.F.png``). The measure is streamed from the folder's
    painted frame to the last frame asked for, decoded and flowed as QC does it, so each map's
    share of the frame is QC's own figure (None where QC measures none). Returns each frame's
    share (0-1) and map."""
    from stylelock.core.metrics.invented import InventedStructure
    from stylelock.core.qc.run import _resize

    first = parse_frames(json.loads((folder / "figures.json").read_text())["frames"])[0]
    reader = _Reader(None, None, "", analysis_size(folder, first))
    key = reader.read(str(folder / "plate" / f"plate.{first}.exr"), with_vectors=True)
    paint, _ = reader.read_style(str(folder / f"painted.{first}.exr"))
    h, w = key.model.shape[:2]
    paint = np.clip(_resize(np.asarray(paint, np.float32), w, h), 0.0, 1.0)
    invented = InventedStructure([(first, key.model, paint)])
    stability = TemporalStability()
    (folder / "maps").mkdir(exist_ok=True)
    written: dict[int, tuple[float | None, Path]] = {}
    for number in range(first, max(frames, default=first - 1) + 1):
        p = (
            key
            if number == first
            else reader.read(str(folder / "plate" / f"plate.{number}.exr"), with_vectors=True)
        )
        o = reader.read(str(folder / "out" / f"styled.{number}.exr"), with_vectors=False)
        stability.add(number, p.model, o.model, aovs=p.aovs, vector_scale=p.vector_scale)
        motion = stability.latest_motion()
        measured, shown = invented.add(number, p.model, o.model, None if motion is None else motion[:2])
        if number not in frames:
            continue
        output = o.model[..., :3].copy()
        if shown is not None:
            output[shown] += TINT * (np.array([1.0, 0.0, 0.0], np.float32) - output[shown])
        path = folder / "maps" / f"invented.{number}.png"
        _write_png(path, np.concatenate([p.model[..., :3], output], axis=1))
        written[number] = (measured.fraction, path)
        share = "unmeasured" if measured.fraction is None else f"{100 * measured.fraction:.3f} %"
        print(f"invented {number}: {share} of the frame -> {path}")
    return written


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    cv2.imwrite(str(path), (np.clip(image[..., ::-1], 0.0, 1.0) * 255).round().astype(np.uint8))


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plate", nargs="?", help="one of --list")
    parser.add_argument("--list", action="store_true", help="name the plates and stop")
    parser.add_argument("--folder", help="where to keep everything (default: ./probe/PLATE)")
    parser.add_argument("--frames", help="a shorter range than the bench's (its first frame is painted)")
    parser.add_argument(
        "--maps", nargs="*", type=int, default=[], help="frames to draw error and invented-structure maps of"
    )
    parser.add_argument("--qc-only", action="store_true", help="measure the output already in --folder")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="an engine parameter to try"
    )
    parser.add_argument(
        "--carried", action="store_true", help="the paint carried by the motion alone instead of the engine"
    )
    args = parser.parse_args(argv)
    if args.list or not args.plate:
        print("\n".join(plates()))
        return 0 if args.list else 2
    if args.plate not in plates():
        parser.error(f"no plate {args.plate!r}; one of: {', '.join(plates())}")
    folder = Path(args.folder or Path("probe") / args.plate)
    params = dict(item.split("=", 1) for item in args.param if "=" in item)
    if len(params) != len(args.param):
        parser.error("--param takes NAME=VALUE")
    if args.carried and params:
        parser.error("--carried runs no engine: --param has nothing to change")
    report = probe(args.plate, folder, args.frames, qc_only=args.qc_only, params=params, carried=args.carried)
    print((folder / "per_frame.tsv").read_text(), end="")
    for check in report.checks:
        value = "unmeasured" if check.value is None else f"{check.value:.3f}"
        print(f"{'pass' if check.passed else 'FAIL'}  {check.name}: {value} ({check.bound} {check.limit})")
    for frame in args.maps:
        error_maps(folder, frame)
    if args.maps:
        invented_maps(folder, args.maps)
    print(f"report: {folder / 'qc' / 'qc.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
