"""`stylelock sample DIR`: write the synthetic sample plate."""

from __future__ import annotations

import argparse

from stylelock.core.errors import SpecError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="write a synthetic sample plate (moving textured objects, highlights, alpha, AOVs)",
    )
    parser.add_argument("folder", help="where to write plate.####.exr")
    parser.add_argument("--frames", default="1001-1024", help="frame range (default 1001-1024)")
    parser.add_argument("--size", default="480x270", help="display size WIDTHxHEIGHT (default 480x270)")
    parser.set_defaults(run=run)


def parse_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 16 or int(height) < 16:
        raise SpecError(f"size {text!r} must look like 480x270 (at least 16x16)")
    return int(width), int(height)


def run(args: argparse.Namespace) -> int:
    from stylelock.core.sample import write_sample_plate
    from stylelock.core.sequence import parse_frames

    width, height = parse_size(args.size)
    pattern = write_sample_plate(args.folder, frames=parse_frames(args.frames), width=width, height=height)
    print(f"sample plate written: {pattern} frames {args.frames}")
    return 0
