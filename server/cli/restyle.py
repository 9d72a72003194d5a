"""`stylelock restyle`: run one job, in-process or through a server."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from stylelock.core.errors import SpecError
from stylelock.core.jobspec import JobSpec, StyleReference


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restyle",
        help="restyle a plate's frame range",
        description="Restyle an EXR plate frame for frame. Example: stylelock restyle "
        "'shot/plate.####.exr' --frames 1001-1024 --engine keyframe --style 1001=paint.1001.exr "
        "--out 'out/styled.####.exr'",
    )
    add_job_arguments(parser)
    parser.add_argument(
        "--server",
        metavar="ADDR",
        help="run on a StyleLock server (host:port or unix:///path); several, comma-separated or a DNS "
        "name with several addresses, share the job as contiguous chunks",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per job event (stdout)")
    parser.set_defaults(run=run)


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that describe a job (shared by `restyle` and `farm`)."""
    parser.add_argument("plate", nargs="?", help="plate pattern: plate.####.exr, %%04d, $F4")
    parser.add_argument("--frames", help="frame range: 1001-1100, 1001-1100x2, 1001,1005,1010-1020")
    parser.add_argument("--out", help="output pattern, e.g. out/styled.####.exr")
    parser.add_argument("--engine", help="engine name, default keyframe (stylelock info lists them)")
    parser.add_argument(
        "--style",
        action="append",
        default=[],
        metavar="[FRAME=]PATH",
        help="style reference: a painted keyframe FRAME=PATH or a look image PATH (repeatable)",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="engine parameter (repeatable)"
    )
    parser.add_argument(
        "--keyframe-every",
        type=int,
        metavar="N",
        help="diffusion-image: diffuse every Nth frame and carry the frames between with the keyframe "
        "engine (the same as --param keyframe_every=N)",
    )
    parser.add_argument(
        "--guide", action="append", default=[], metavar="NAME[=SOURCE]", help="structure guide (repeatable)"
    )
    parser.add_argument("--proxy", type=float, help="engine resolution factor, e.g. 0.5 (default 1)")
    parser.add_argument("--colorspace", help="the plate's colour space (default: the scene_linear role)")
    parser.add_argument("--ocio", help="OCIO config file or ocio:// name (default: $OCIO, else bundled)")
    parser.add_argument("--encoding", help="engine-facing encoding: srgb (default) or acescct")
    parser.add_argument("--mask", help="restyle only inside this matte: a plate channel or matte.####.exr")
    parser.add_argument("--layer", default="", help="plate layer to restyle (default: the main RGB)")
    parser.add_argument("--compression", help="output EXR compression (default: lossless, see docs/cli.md)")
    parser.add_argument("--no-resume", action="store_true", help="redo frames already on disk")
    parser.add_argument("--spec", help="read the job from a JSON spec file (flags given override it)")
    parser.add_argument("--print-spec", action="store_true", help="print the job spec as JSON and exit")


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise SpecError(f"{what} {text!r} must look like NAME=VALUE")
        pairs[name.strip()] = value
    return pairs


def _guides(values: list[str]) -> dict[str, str]:
    guides = {}
    for text in values:
        name, _, source = text.partition("=")
        guides[name.strip()] = source
    return guides


def spec_from_args(args: argparse.Namespace) -> JobSpec:
    """The job the flags describe; with --spec, flags that are given override the file."""
    data = JobSpec.from_json(Path(args.spec).read_text()).to_dict() if args.spec else {}
    colour = dict(data.get("colour") or {})
    output = dict(data.get("output") or {})
    overrides = {
        "plate": args.plate,
        "frames": args.frames,
        "engine": args.engine,
        "proxy": args.proxy,
        "mask": args.mask,
        "layer": args.layer or None,
    }
    data.update({key: value for key, value in overrides.items() if value is not None})
    colour.update(
        {
            key: value
            for key, value in {
                "config": args.ocio,
                "input_space": args.colorspace,
                "encoding": args.encoding,
            }.items()
            if value is not None
        }
    )
    output.update(
        {key: value for key, value in {"pattern": args.out, "compression": args.compression}.items() if value}
    )
    if args.no_resume:
        output["resume"] = False
    data["colour"], data["output"] = colour, output
    data["params"] = {**(data.get("params") or {}), **_pairs(args.param, "parameter")}
    if args.keyframe_every is not None:
        data["params"]["keyframe_every"] = args.keyframe_every
    data["guides"] = {**(data.get("guides") or {}), **_guides(args.guide)}
    if args.style:
        data["styles"] = [
            {"path": ref.path, "frame": ref.frame} for ref in map(StyleReference.parse, args.style)
        ]
    if "plate" not in data:
        raise SpecError("no plate given: stylelock restyle 'plate.####.exr' --frames 1001-1024 --out ...")
    if "frames" not in data:
        raise SpecError("no frame range given (--frames 1001-1024)")
    return JobSpec.from_dict(data)


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    if args.print_spec:
        print(json.dumps(spec.to_dict(), indent=2, sort_keys=True))
        return 0
    if not args.json:
        return _run(args, spec, None)
    from stylelock.core.errors import StyleLockError
    from stylelock.server.cli.job_events import JsonEvents

    events = JsonEvents()
    try:
        return _run(args, spec, events)
    except StyleLockError as exc:
        events.error(exc)
        raise


def _run(args: argparse.Namespace, spec: JobSpec, events: object | None) -> int:
    from stylelock.server.cli.interrupt import ctrl_c_cancels

    cancel = threading.Event()
    if args.server:
        return _run_remote(args.server, spec, cancel, events)
    from stylelock.server.cli.progress import ProgressBar
    from stylelock.server.pipeline import run_job

    observer = events or ProgressBar()
    with ctrl_c_cancels(cancel):
        summary = run_job(spec, observer=observer, cancel=cancel)
    if events is not None:
        events.finished(job=summary.job_id, output=spec.output.pattern)
        return 0
    written = len(summary.outputs) - len(summary.skipped)
    skipped = f", {len(summary.skipped)} already done" if summary.skipped else ""
    print(f"restyled {written} frames{skipped} in {summary.seconds:.1f}s -> {spec.output.pattern}")
    return 0


def _run_remote(server: str, spec: JobSpec, cancel: threading.Event, events: object | None) -> int:
    from stylelock.core.client.spread import resolve_servers, run_spread
    from stylelock.server.cli.interrupt import ctrl_c_cancels

    addresses = resolve_servers(server)
    printer = events.server_event if events is not None else _RemoteProgress(len(addresses) > 1)
    with ctrl_c_cancels(cancel):
        frames = run_spread(addresses, spec, on_event=printer, cancel=cancel)
    if events is not None:
        events.finished(output=spec.output.pattern, servers=addresses)
        return 0
    where = addresses[0] if len(addresses) == 1 else f"{len(addresses)} servers"
    print(f"restyled {len(frames)} frames on {where} -> {spec.output.pattern}")
    return 0


class _RemoteProgress:
    """Prints server job events as they arrive (naming the server when there are several)."""

    def __init__(self, several: bool = False) -> None:
        self.several = several

    def __call__(self, event: object, server: str = "") -> None:
        kind = getattr(event, "kind", "")
        frame = getattr(event, "frame", None)
        where = f" on {server}" if self.several and server else ""
        if kind == "frame_done":
            print(f"frame {frame} done{where} ({getattr(event, 'seconds', 0.0):.2f}s)", flush=True)
        elif kind in ("queued", "warning"):
            message = getattr(event, "message", "") or f"position {getattr(event, 'position', 0)}"
            print(f"{kind}{where}: {message}", flush=True)
