"""The GPU benchmark script runs end to end on CPU at smoke size, so a machine with a GPU finds it working.

CI has no GPU; without this, a change to the engines' contracts could break `bench/diffusion.py`
unnoticed until the one session that has a device to run it on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # the whole bench script, every configuration, end to end


def test_diffusion_bench_smoke_runs_every_configuration(tmp_path: Path) -> None:
    out = tmp_path / "diffusion.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "diffusion.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["results"]
    configs = {"plain-loop", "plain-batch8", "engine-temporal", "engine-plain", "engine-hybrid-k4"}
    assert {row["config"] for row in rows} == configs and len(rows) == 10
    assert not [row for row in rows if "error" in row]
    for size in {(row["width"], row["height"]) for row in rows}:
        ratio = {
            row["config"]: row["warp_error_ratio"] for row in rows if (row["width"], row["height"]) == size
        }
        assert ratio["engine-temporal"] < 0.5 * ratio["engine-plain"]  # the temporal layers act
