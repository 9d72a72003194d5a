"""The StyleLock Jobs panel against a live server, offscreen: used by the panel test and to make the
screenshot in docs/hosts/nuke.md (`python tests/hosts/panel_screenshot.py docs/hosts/jobs_panel.png`).

It starts a server, runs two jobs (one finished, one running slowly), shows the panel and saves it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: grpc_fixtures and friends


def process_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Run the Qt event loop until `predicate()` holds."""
    from stylelock.core.hosts.qt import QtWidgets

    app = QtWidgets.QApplication.instance()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"the panel did not reach the expected state within {timeout} s")


def cell(panel: object, row: int, column: str) -> str:
    from stylelock.core.hosts.jobs_panel import COLUMNS

    item = panel.table.item(row, COLUMNS.index(column))
    return item.text() if item is not None else ""


def save_screenshot(path: Path) -> Path:
    from grpc_fixtures import SlowEngine, serve

    from stylelock.core.client import StyleLockClient
    from stylelock.core.hosts.jobs_panel import JobsPanel
    from stylelock.core.hosts.qt import QtWidgets
    from stylelock.core.jobspec import JobSpec, OutputSettings
    from stylelock.core.sample import write_sample_plate
    from stylelock.server import engines

    QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    engines.BUILTIN_ENGINES[SlowEngine.name] = f"{SlowEngine.__module__}:{SlowEngine.__name__}"
    with tempfile.TemporaryDirectory() as folder, serve(allow_roots=[folder]) as (_, address):
        plate = write_sample_plate(
            Path(folder) / "sh010", frames=list(range(1001, 1025)), width=64, height=36
        )
        with StyleLockClient(address) as client:
            done = JobSpec(
                plate, "1001-1024", "passthrough", output=OutputSettings(f"{folder}/a/sh010.####.exr")
            )
            list(client.watch(client.submit(done)))
            slow = JobSpec(
                plate, "1001-1024", SlowEngine.name, params={"delay": 0.5},
                output=OutputSettings(f"{folder}/b/sh010_paint.####.exr"),
            )  # fmt: skip
            client.submit(slow)
            panel = JobsPanel(address=address, refresh_ms=200)
            panel.resize(900, 260)
            panel.show()
            process_until(lambda: panel.table.rowCount() == 2 and cell(panel, 1, "state") == "running")
            time.sleep(1.2)
            panel.refresh()
            process_until(lambda: panel.jobs[1].frames_done >= 2)
            panel.table.selectRow(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            panel.grab().save(str(path))
            panel.close()
            client.cancel(panel.jobs[1].job_id)
    engines.BUILTIN_ENGINES.pop(SlowEngine.name, None)
    return path


if __name__ == "__main__":
    print(save_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "jobs_panel.png")))
