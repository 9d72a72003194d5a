"""`stylelock hosts`: put StyleLock into a host application.

    stylelock hosts nuke install DEST --python 3.11 --platform linux
    stylelock hosts blender build OUT.zip

Each host has a module here exposing `add_parser(subparsers)`; the work itself lives in
`stylelock.core.hosts.packaging` and the host's own builder.
"""

from __future__ import annotations

import argparse
import importlib
import logging

log = logging.getLogger(__name__)

HOSTS = ("nuke", "blender")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("hosts", help="install the Nuke plugin or build the Blender extension")
    hosts = parser.add_subparsers(dest="host", metavar="HOST")
    for name in HOSTS:
        try:
            module = importlib.import_module(f"stylelock.server.cli.hosts.{name}")
        except ImportError as exc:
            log.debug("host %s unavailable: %s", name, exc)
            continue
        module.add_parser(hosts)
    parser.set_defaults(run=lambda args: parser.print_help() or 2)
