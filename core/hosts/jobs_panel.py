"""The StyleLock Jobs panel: a server's jobs with their progress, cancel, and open a finished job's frames.

A Qt widget (PySide6 or PySide2 through `stylelock.core.hosts.qt`) shared by Nuke (registered as a
panel, where "Open frames" makes a Read node) and `stylelock monitor` (a window of its own, where it
opens the frames' folder). It never blocks the UI on the network: the job list is fetched and
jobs are cancelled on worker threads, whose results come back through a Qt signal (queued onto the
UI thread).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from stylelock.core.client import JobInfo, StyleLockClient
from stylelock.core.errors import StyleLockError
from stylelock.core.hosts.messages import one_line
from stylelock.core.hosts.qt import QtCore, QtGui, QtWidgets, Signal
from stylelock.core.hosts.restyle import DEFAULT_SERVER
from stylelock.core.sequence import parse_frames

COLUMNS = ("job", "state", "engine", "progress", "frames", "message")
#: How often the list is refreshed (ms).
REFRESH_MS = 1000

OpenFrames = Callable[[str, int, int], None]
"""Called with (output pattern, first frame, last frame) to show a finished job's frames."""


def open_folder(pattern: str, first: int, last: int) -> None:
    """Outside a host: open the folder holding the frames in the desktop's file browser."""
    QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(os.path.dirname(pattern)))


class JobsPanel(QtWidgets.QWidget):
    """The jobs of one server, refreshed every second."""

    fetched = Signal(object, str)
    """(list of JobInfo, error line): emitted by the fetch thread, handled on the UI thread."""
    cancelled = Signal(str)

    def __init__(
        self,
        parent: QtWidgets.QWidget | None = None,
        *,
        address: str | None = None,
        open_frames: OpenFrames | None = None,
        refresh_ms: int = REFRESH_MS,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("StyleLock Jobs")
        self.open_frames = open_frames or open_folder
        self.jobs: list[JobInfo] = []
        self._fetching = threading.Lock()
        self._clients: dict[str, StyleLockClient] = {}

        self.server = QtWidgets.QLineEdit(address or os.environ.get("STYLELOCK_SERVER", DEFAULT_SERVER))
        self.show_ended = QtWidgets.QCheckBox("ended jobs too")
        self.show_ended.setChecked(True)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel job")
        self.open_button = QtWidgets.QPushButton("Open frames")
        self.status = QtWidgets.QLabel("")

        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("server"))
        top.addWidget(self.server, 1)
        top.addWidget(self.show_ended)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

        self.fetched.connect(self._show_jobs)
        self.cancelled.connect(self.status.setText)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.open_button.clicked.connect(self.open_selected)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        if refresh_ms > 0:
            self.timer.start(refresh_ms)
        self.refresh()

    # -- network, off the UI thread --------------------------------------------------------------
    def _client(self) -> StyleLockClient:
        """The connection to the address in the field; one at a time (a changed address closes the
        old one, so half-typed addresses leave no connection behind)."""
        address = self.server.text().strip() or DEFAULT_SERVER
        if address not in self._clients:
            for old in self._clients.values():
                old.close()
            self._clients = {address: StyleLockClient(address, timeout=5.0)}
        return self._clients[address]

    def refresh(self) -> None:
        """Fetch the job list on a worker thread (skipped while a fetch is still in flight)."""
        if not self._fetching.acquire(blocking=False):
            return
        client, ended = self._client(), self.show_ended.isChecked()

        def fetch() -> None:
            try:
                jobs, error = client.jobs(include_ended=ended), ""
            except StyleLockError as exc:
                jobs, error = [], one_line(exc)
            finally:
                self._fetching.release()
            self.fetched.emit(jobs, error)

        threading.Thread(target=fetch, name="stylelock-jobs", daemon=True).start()

    def cancel_selected(self) -> None:
        job = self.selected()
        if job is None:
            self.status.setText("select a job to cancel")
            return
        client = self._client()

        def cancel() -> None:
            try:
                state = client.cancel(job.job_id)
                self.cancelled.emit(f"job {job.job_id}: {state}")
            except StyleLockError as exc:
                self.cancelled.emit(one_line(exc))

        threading.Thread(target=cancel, name="stylelock-cancel", daemon=True).start()

    # -- the UI thread -----------------------------------------------------------------------------
    def selected(self) -> JobInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.jobs[rows[0].row()] if rows and rows[0].row() < len(self.jobs) else None

    def open_selected(self) -> None:
        job = self.selected()
        if job is None or not job.output:
            self.status.setText("select a job that wrote frames")
            return
        frames = parse_frames(job.frames) if job.frames else [0]
        self.open_frames(job.output, frames[0], frames[-1])
        self.status.setText(f"opened {job.output}")

    def _show_jobs(self, jobs: list[JobInfo], error: str) -> None:
        if error:
            self.status.setText(error)
            return
        chosen = self.selected()
        self.jobs = list(jobs)
        self.table.setRowCount(len(self.jobs))
        for row, job in enumerate(self.jobs):
            cells: list[Any] = [job.job_id, job.state, job.engine, None, job.frames, job.message]
            for column, value in enumerate(cells):
                if column == 3:
                    bar = self.table.cellWidget(row, column) or QtWidgets.QProgressBar()
                    bar.setRange(0, max(job.frames_total, 1))
                    bar.setValue(job.frames_done)
                    bar.setFormat(f"{job.frames_done}/{job.frames_total}")
                    self.table.setCellWidget(row, column, bar)
                else:
                    self.table.setItem(row, column, QtWidgets.QTableWidgetItem(str(value)))
            if chosen is not None and job.job_id == chosen.job_id:
                self.table.selectRow(row)
        self.status.setText(f"{len(self.jobs)} jobs on {self.server.text().strip()}")

    def closeEvent(self, event: Any) -> None:
        self.timer.stop()
        for client in self._clients.values():
            client.close()
        super().closeEvent(event)
