"""bench/kill9.py and bench/soak.py at smoke size against real `stylelock serve` processes, so that a
change that breaks them (or the durability and load they check) fails here, not only in the full
runs (bench/results/kill9.json, bench/results/soak.json)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import kill9  # noqa: E402 - bench/ is not a package
import soak  # noqa: E402

pytestmark = pytest.mark.slow


def test_kill9_one_kill_of_each_mode_loses_nothing(tmp_path: Path) -> None:
    result = kill9.run(4, cycles=1, aimed=0, size=(64, 48), count=4, engine="keyframe", work=tmp_path)
    assert [c["mode"] for c in result["cycles"]] == ["inline", "shared"]
    for record in result["cycles"]:
        assert record["problems"] == [], record
        assert record["rerun"]["made"] + record["rerun"]["skipped"] == 4
    assert all(result["totals"][key] == 0 for key in kill9.TOTALS)
    assert result["totals"]["cycles_with_problems"] == 0


def test_a_kill_aimed_at_a_write_finds_it_and_the_restart_sweeps_it(tmp_path: Path) -> None:
    shot = kill9.make_shot(tmp_path / "shot", 64, 48, 4, "keyframe")
    env, _ = kill9.pinned_code(tmp_path / "pkg", "bench/kill9.py", kill9.MEASURES)
    out = tmp_path / "ref"
    kill9.subprocess.run(
        [sys.executable, "-c", "import sys; from stylelock.core.jobspec import JobSpec; from "
         "stylelock.server.pipeline import run_job; run_job(JobSpec.from_json(sys.argv[1]))",
         shot.spec(out).to_json()], env=env, check=True,
    )  # fmt: skip
    moment = kill9.Moment("aimed", frame=1003, target="server output write")
    record = kill9.cycle(0, False, moment, shot, tmp_path, kill9.frame_files(out), 5.0, env)
    assert record["problems"] == [], record
    assert record["leftovers"] == 0  # whatever the kill caught, the restart swept it
    # Nearly always the kill lands while the write is in progress (its temporary on disk at the
    # kill). The write can also finish between being seen and the kill: then there is nothing to
    # sweep, which is no failure (a CI run saw it once).
    if record["at_kill"]["temporaries"]:
        assert record["rerun"]["skipped"] == len(record["at_kill"]["frames_on_disk"])


def test_soak_concurrent_clients_get_the_single_client_bytes(tmp_path: Path) -> None:
    result = soak.run(3, 2, 3, (96, 54), tmp_path, None)
    assert result["errors"] == 0, result["error_list"]
    assert result["frames_compared"] == result["frames_identical"] == 9
    assert result["frames_made"] == 9 and result["memory_mib"]["peak_server"] > 0
    assert not result["bar_met"]  # the smoke size is not the bar
