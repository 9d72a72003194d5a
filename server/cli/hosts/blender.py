"""`stylelock hosts blender build OUT.zip`: the Blender extension, ready for Install from Disk.

    stylelock hosts blender build ~/Downloads/stylelock-blender.zip

The zip holds the add-on (`host_plugins/blender`), `blender_manifest.toml` and the client's wheels
for Linux, macOS and Windows (`stylelock.core.hosts.blender_extension`); pip fetches the wheels, so
the first build needs the package index (or a pip cache / `--find-links` configured for pip).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stylelock.core.hosts.blender_extension import BLENDER_PYTHON, PLATFORMS, build_extension


def add_parser(hosts: argparse._SubParsersAction) -> None:
    parser = hosts.add_parser("blender", help="the Blender extension")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="write the extension zip (Edit > Preferences > Get Extensions > Install from Disk)",
    )
    build.add_argument("out", help="the zip to write, e.g. stylelock-blender.zip")
    build.set_defaults(run=run_build)
    parser.set_defaults(run=lambda args: parser.print_help() or 2)


def run_build(args: argparse.Namespace) -> int:
    built = build_extension(Path(args.out).expanduser().resolve())
    print(
        f"StyleLock {built.version} for Blender 4.2+ (Python {BLENDER_PYTHON}; {', '.join(PLATFORMS)}): "
        f"{built.path} ({built.size / 2**20:.1f} MiB, {len(built.wheels)} wheels)"
    )
    print("install it in Blender: Edit > Preferences > Get Extensions > Install from Disk")
    return 0
