"""Render a StyleLock node without the GUI: for `nuke -t` farm tasks and scripts.

    nuke -t stylelock_render.py /shots/sh010/comp.nk StyleLock1 [--frames=1001-1100]

or, inside a `nuke -t` Python script: `stylelock_nuke.farm.render("StyleLock1")`. The node's range
(or FRAMES) is rendered upstream, restyled on the node's server and left in the node's cache, the
same frames a GUI session shows; already up-to-date frames are not redone. (`--frames=` is one
argument on purpose: `nuke -t` takes a trailing bare range from the command line as its own.)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stylelock.core.errors import StyleLockError
from stylelock.core.hosts import job as jobs
from stylelock.core.hosts.messages import one_line
from stylelock_nuke import host, node


def render(name: str, frames: str | None = None) -> jobs.Progress:
    """Restyle the StyleLock node `name` of the open script and wait; returns the final progress."""
    target = host.node_by_name(name)
    if frames:
        host.set_knob(target, "frames", frames)
    node.refresh(target)
    progress = node.restyle(target, wait=True)
    assert progress is not None  # wait=True always returns the final progress
    return progress


def main(argv: Sequence[str]) -> int:
    """`SCRIPT NODE [--frames=RANGE]` -> 0 when done, else the error's exit code and one line on stderr."""
    args = list(argv)
    frames = next((a.split("=", 1)[1] for a in args if a.startswith("--frames=")), None)
    args = [a for a in args if not a.startswith("--frames=")]
    if len(args) != 2:
        print("usage: nuke -t stylelock_render.py SCRIPT NODE [--frames=RANGE]", file=sys.stderr)
        return 2
    script, name = args
    try:
        host.open_script(script)
        progress = render(name, frames)
    except StyleLockError as exc:
        print(f"stylelock: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except (LookupError, RuntimeError) as exc:
        print(f"stylelock: error: {exc}", file=sys.stderr)
        return 2
    if progress.state == jobs.CANCELLED:
        print(f"stylelock: {progress.message}", file=sys.stderr)
        return 130
    if progress.state != jobs.FINISHED:
        print(f"stylelock: error: {progress.message}", file=sys.stderr)
        return progress.error.exit_code if progress.error is not None else 1
    print(f"stylelock: {name}: {progress.message}")
    return 0
