"""The `stylelock` command line.

Each subcommand lives in its own module exposing `add_parser(subparsers)` (which registers the
subparser and `set_defaults(run=run)`) and `run(args) -> int`. Errors are `StyleLockError`s raised
anywhere below; `main` is the one place that turns them into a one-line message and the documented
exit code (docs/cli.md).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from stylelock.core import __version__
from stylelock.core.errors import StyleLockError

log = logging.getLogger("stylelock")

SUBCOMMANDS = ("restyle", "info", "sample", "demo", "qc", "serve", "jobs", "hosts", "monitor", "farm")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylelock",
        description="Restyle EXR plates frame for frame, colour-exact, with a locked style reference.",
    )
    parser.add_argument("--version", action="version", version=f"stylelock {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"stylelock.server.cli.{name}")
        except ImportError as exc:  # a subcommand whose module is not installed is left out
            log.debug("subcommand %s unavailable: %s", name, exc)
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except StyleLockError as exc:
        print(f"stylelock: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stylelock: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"stylelock: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
