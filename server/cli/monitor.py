"""`stylelock monitor`: the StyleLock Jobs panel (the one Nuke docks) as a window of its own."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("monitor", help="a window listing a server's jobs: progress, cancel, open")
    parser.add_argument("--server", default=None, help="server address (default $STYLELOCK_SERVER or local)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stylelock.core.errors import SpecError

    try:
        from stylelock.core.hosts.jobs_panel import JobsPanel
        from stylelock.core.hosts.qt import QtWidgets, exec_app
    except ImportError as exc:
        raise SpecError(f"stylelock monitor needs Qt: pip install 'stylelock[monitor]' ({exc})") from None
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    panel = JobsPanel(address=args.server)
    panel.resize(900, 400)
    panel.show()
    return exec_app(app)
