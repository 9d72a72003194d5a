"""The StyleLock Jobs panel inside Nuke: the shared panel, with "Open frames" making a Read node."""

from __future__ import annotations

from stylelock.core.hosts.jobs_panel import JobsPanel


class NukeJobsPanel(JobsPanel):
    """Registered under Windows > Custom > StyleLock Jobs (`stylelock_nuke.register_gui`)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent, open_frames=_read_node)


def _read_node(pattern: str, first: int, last: int) -> None:
    from stylelock_nuke import host

    host.create_read(pattern, first, last)
