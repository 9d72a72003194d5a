"""Per-frame progress of a local job on the terminal (Ctrl-C handling: `interrupt`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from stylelock.server.pipeline import FrameDone, JobObserver


class ProgressBar(JobObserver):
    """A one-line bar on a terminal; one line per frame when output is not a terminal (farm logs)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.total = 0
        self.done = 0
        self.started = time.perf_counter()
        self.tty = self.stream.isatty()

    def job_started(self, job_id: str, frames: Sequence[int]) -> None:
        self.total = len(frames)
        self.started = time.perf_counter()
        if not frames:
            self._line("nothing to do: every frame is already on disk from an identical job")

    def frame_done(self, job_id: str, result: FrameDone) -> None:
        if result.skipped:
            return
        self.done += 1
        engine = result.seconds.get("engine", 0.0)
        elapsed = time.perf_counter() - self.started
        if self.tty:
            filled = int(self.width * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (self.width - filled)
            end = "\n" if self.done == self.total else ""
            self.stream.write(
                f"\r[{bar}] {self.done}/{self.total} frame {result.frame} "
                f"engine {engine:.2f}s elapsed {elapsed:.1f}s{end}"
            )
            self.stream.flush()
        else:
            self._line(
                f"frame {result.frame} done ({self.done}/{self.total}, engine {engine:.2f}s) -> {result.path}"
            )

    def warning(self, job_id: str, message: str, frame: int | None) -> None:
        where = f"frame {frame}: " if frame is not None else ""
        self._line(f"warning: {where}{message}")

    def _line(self, text: str) -> None:
        if self.tty and 0 < self.done < self.total:
            self.stream.write("\n")
        self.stream.write(text + "\n")
        self.stream.flush()
