"""The StyleLock Jobs panel (Nuke's dock panel and `stylelock monitor`) in real Qt, offscreen, against a
live server: the list updates, cancel reaches the server, a finished job's frames open; PySide6 here
and PySide2 (Nuke 15's binding) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from grpc_fixtures import SlowEngine, register_engine, serve, tiny_plate
from panel_screenshot import cell, process_until

from stylelock.core.client import StyleLockClient
from stylelock.core.hosts.jobs_panel import COLUMNS, JobsPanel
from stylelock.core.hosts.qt import BINDING, QtWidgets
from stylelock.core.jobspec import JobSpec, OutputSettings

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def app():
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def test_the_panel_follows_jobs_cancels_one_and_opens_another(app, tmp_path, monkeypatch):
    assert BINDING == "PySide6"
    register_engine(monkeypatch, SlowEngine)
    plate = tiny_plate(tmp_path / "plate", frames="1001-1010")
    opened: list[tuple[str, int, int]] = []
    with serve(allow_roots=[tmp_path]) as (server, address), StyleLockClient(address) as client:
        finished_out = str(tmp_path / "a" / "a.####.exr")
        finished = client.submit(
            JobSpec(plate, "1001-1003", "passthrough", output=OutputSettings(finished_out))
        )
        list(client.watch(finished))
        slow_spec = JobSpec(
            plate,
            "1001-1010",
            SlowEngine.name,
            params={"delay": 0.3},
            output=OutputSettings(str(tmp_path / "b.####.exr")),
        )
        slow = client.submit(slow_spec)
        panel = JobsPanel(address=address, open_frames=lambda *a: opened.append(a), refresh_ms=100)
        try:
            process_until(lambda: panel.table.rowCount() == 2)
            assert [cell(panel, row, "job") for row in range(2)] == [finished, slow]
            assert cell(panel, 0, "state") == "finished" and cell(panel, 0, "frames") == "1001-1003"
            bar = lambda: panel.table.cellWidget(1, COLUMNS.index("progress"))  # noqa: E731
            process_until(lambda: bar() is not None and bar().value() >= 1)
            first = bar().value()
            process_until(lambda: bar().value() > first)  # the list keeps updating on its own
            assert bar().maximum() == 10 and bar().format().endswith("/10")

            panel.table.selectRow(1)
            panel.cancel_selected()
            process_until(lambda: cell(panel, 1, "state") == "cancelled", timeout=30)
            assert server.manager.get(slow).state == "cancelled"
            assert f"job {slow}: " in panel.status.text() or "jobs on" in panel.status.text()

            panel.table.selectRow(0)
            panel.open_selected()
            assert opened == [(os.path.abspath(finished_out), 1001, 1003)]
        finally:
            panel.close()


def test_the_panel_says_in_one_line_when_the_server_is_down(app):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    panel = JobsPanel(address=dead, refresh_ms=0)
    try:
        process_until(lambda: "cannot reach" in panel.status.text())
        assert "\n" not in panel.status.text() and panel.table.rowCount() == 0
        started = time.monotonic()
        panel.refresh()  # never blocks the UI: the fetch runs on a worker thread
        assert time.monotonic() - started < 0.5
    finally:
        panel.close()


def test_the_screenshot_for_the_docs_is_made_from_the_live_panel(app, tmp_path):
    from panel_screenshot import save_screenshot

    path = save_screenshot(tmp_path / "panel.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_the_panel_runs_under_pyside2_for_nuke_15(tmp_path):
    code = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'; os.environ['STYLELOCK_QT'] = 'PySide2'\n"
        f"sys.path.insert(0, {str(HERE)!r}); sys.path.insert(0, {str(HERE.parent)!r})\n"
        "from stylelock.core.hosts.qt import BINDING, QtWidgets\n"
        "app = QtWidgets.QApplication([])\n"
        "from panel_screenshot import save_screenshot\n"
        f"path = save_screenshot(__import__('pathlib').Path({str(tmp_path / 'qt5.png')!r}))\n"
        "print(BINDING, path.stat().st_size)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    binding, size = done.stdout.split()[-2:]
    assert binding == "PySide2" and int(size) > 5_000


def test_stylelock_monitor_opens_the_panel_window(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    process = subprocess.Popen(
        [sys.executable, "-m", "stylelock.server.cli", "monitor", "--server", "127.0.0.1:9"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(3)
        assert process.poll() is None, process.communicate()[1]  # the window's event loop runs
    finally:
        process.kill()
        process.communicate()
