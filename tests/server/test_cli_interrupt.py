"""Ctrl-C on `stylelock restyle`: a clean stop, exit 130, only complete frames on disk."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stylelock.core.exr import read_exr
from stylelock.core.sample import write_sample_plate

TESTS = Path(__file__).resolve().parents[1]

LAUNCH = (
    "import sys; sys.path.insert(0, {tests!r});"
    "from stylelock.server.engines import BUILTIN_ENGINES;"
    "BUILTIN_ENGINES['test-slow'] = 'pipeline_engines:SlowEngine';"
    "from stylelock.server.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_cleanly(tmp_path, presses):
    plate = write_sample_plate(tmp_path / "plate", frames=list(range(1, 13)), width=48, height=32)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCH.format(tests=str(TESTS)),
            "restyle",
            plate,
            "--frames",
            "1-12",
            "--engine",
            "test-slow",
            "--param",
            "delay=0.4",
            "--out",
            str(out / "o.####.exr"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "done" in line:
            break
    for _ in range(presses):
        process.send_signal(signal.SIGINT)
    remaining, _ = process.communicate(timeout=60)
    output = "".join(lines) + remaining
    assert process.returncode == 130, output
    files = sorted(out.iterdir())
    assert 1 <= len(files) < 12
    assert all(path.name.startswith("o.") and path.suffix == ".exr" for path in files), files
    for path in files:
        read_exr(path)  # complete frames only
    assert output.strip().splitlines()[-1].startswith("stylelock:")
