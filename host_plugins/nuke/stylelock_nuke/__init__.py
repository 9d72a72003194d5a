"""StyleLock for Nuke: a node that restyles its input range through a StyleLock server.

- `host`: every call into Nuke (the adapter; nothing else imports `nuke`).
- `node`: the node's knobs and buttons (Restyle, Preview, Cancel), run off the main thread.
- `farm`: a blocking render for `nuke -t` (`stylelock_render.py SCRIPT NODE [FRAMES]`).
- `panel`: the StyleLock Jobs panel (Qt through the `qt` shim), also `stylelock monitor` outside Nuke.

Importing this package does not import Nuke; `register_gui` (from menu.py) does.
"""

from __future__ import annotations

PANEL_ID = "com.stylelock.jobs"


def register_gui() -> None:
    """Nodes > StyleLock > StyleLock, and the StyleLock Jobs panel under Windows > Custom."""
    from stylelock_nuke import host

    if not host.gui():
        return
    host.add_menu_command(
        "Nodes", "StyleLock", "StyleLock", "import stylelock_nuke.node\nstylelock_nuke.node.create()"
    )
    host.register_panel("stylelock_nuke.panel", "NukeJobsPanel", "StyleLock Jobs", PANEL_ID)
