"""`stylelock hosts nuke install DEST`: a NUKE_PATH folder with the plugin and the client it needs.

    stylelock hosts nuke install ~/.nuke/stylelock --nuke 16 --platform linux
    stylelock hosts nuke install /studio/nuke/stylelock --python 3.10 --platform windows

DEST gets the plugin (`init.py`, `menu.py`, `stylelock_render.py`, `stylelock_nuke/`), the parts of
`stylelock` a host imports, and the client's wheels (grpcio, protobuf, fileseq) unpacked for that
Nuke's Python and platform: importable with DEST alone on `sys.path`, nothing heavier inside.
"""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

from stylelock.core.errors import OutputError, SpecError
from stylelock.core.hosts.packaging import (
    PLATFORM_TAGS,
    PYTHON_VERSIONS,
    client_requirements,
    copy_client_sources,
    install_client_wheels,
)

#: Each supported Nuke's Python (Foundry's release notes; Nuke follows the VFX Reference Platform).
NUKE_PYTHON = {"15": "3.10", "16": "3.11", "17": "3.11"}


def add_parser(hosts: argparse._SubParsersAction) -> None:
    parser = hosts.add_parser("nuke", help="the Nuke plugin")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    install = actions.add_parser("install", help="write a NUKE_PATH folder: plugin, client and its wheels")
    install.add_argument("dest", help="the folder to write (add it to NUKE_PATH)")
    which = install.add_mutually_exclusive_group()
    which.add_argument(
        "--nuke", choices=sorted(NUKE_PYTHON), help="the Nuke major version (picks its Python)"
    )
    which.add_argument("--python", choices=PYTHON_VERSIONS, help="the Python of the Nuke it is for")
    install.add_argument("--platform", choices=sorted(PLATFORM_TAGS), default="linux")
    install.set_defaults(run=run_install)
    parser.set_defaults(run=lambda args: parser.print_help() or 2)


def plugin_folder() -> Path:
    """The plugin's own files, as shipped in the `stylelock.host_plugins` package data."""
    return Path(str(resources.files("stylelock.host_plugins") / "nuke"))


def install(dest: Path, *, python: str, platform: str) -> list[str]:
    """Write DEST; returns the pinned client requirements it holds."""
    if dest.exists() and any(dest.iterdir()) and not (dest / "stylelock_nuke").is_dir():
        raise OutputError(f"{dest} is not empty and holds no StyleLock plugin; choose an empty folder")
    dest.mkdir(parents=True, exist_ok=True)
    source = plugin_folder()
    for name in ("init.py", "menu.py", "stylelock_render.py"):
        shutil.copy2(source / name, dest / name)
    shutil.rmtree(dest / "stylelock_nuke", ignore_errors=True)
    shutil.copytree(
        source / "stylelock_nuke", dest / "stylelock_nuke", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.rmtree(dest / "stylelock", ignore_errors=True)
    copy_client_sources(dest)
    install_client_wheels(dest, python=python, platform=platform)
    requirements = client_requirements()
    (dest / "STYLELOCK_INSTALL.txt").write_text(
        f"StyleLock Nuke plugin for Python {python} on {platform}\n" + "\n".join(requirements) + "\n"
    )
    return requirements


def run_install(args: argparse.Namespace) -> int:
    python = NUKE_PYTHON[args.nuke] if args.nuke else args.python
    if python is None:
        raise SpecError("say which Nuke it is for: --nuke 15|16|17 or --python 3.10|3.11|...")
    dest = Path(args.dest).expanduser().resolve()
    requirements = install(dest, python=python, platform=args.platform)
    print(f"StyleLock for Nuke (Python {python}, {args.platform}) in {dest}: {', '.join(requirements)}")
    print(f"add it to NUKE_PATH, e.g. export NUKE_PATH={dest}:$NUKE_PATH")
    return 0
