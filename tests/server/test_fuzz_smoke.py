"""A few hundred seeded cases of bench/fuzz.py against a live `stylelock serve` process, so that a
change that lets hostile input crash the server or answer INTERNAL fails here, not only in the
full run (bench/results/fuzz.json)."""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import fuzz  # noqa: E402 - bench/ is not a package

COUNTS = {"exr_mutation": 120, "exr_valid": 30, "spec": 70, "upload": 30, "job_id": 30}


def test_seeded_fuzz_cases_against_a_live_server():
    with tempfile.TemporaryDirectory(prefix="sl-fuzz-", dir="/tmp") as folder:  # a short socket path
        result = fuzz.run_fuzz(7, COUNTS, Path(folder))
    statuses = result["status_counts"]
    assert result["cases"]["by_category"] == COUNTS
    assert result["crash"] is None and result["hangs"] == []
    assert result["internal_or_unknown"] == 0, result["internal_or_unknown_cases"]
    assert result["messages_not_one_human_line"] == 0, result["messages_not_one_human_line_cases"]
    assert result["health_at_end"] == "SERVING" and result["same_process_at_end"]
    assert result["server_log"]["tracebacks"] == 0
    assert result["memory"]["with_decode_workers_mb"]["peak"] < 1024, result["memory"]
    # The cases reach where they are aimed: mutants are refused as corrupt and some still restyle,
    # valid odd files restyle, malformed specs and uploads are the client's fault.
    assert statuses["exr_mutation"].get("DATA_LOSS", 0) > 30 and statuses["exr_mutation"].get("OK", 0) > 5
    assert statuses["exr_valid"].get("OK", 0) > 10
    assert statuses["spec"].get("INVALID_ARGUMENT", 0) > 30
    assert statuses["upload"].get("INVALID_ARGUMENT", 0) > 5
    assert statuses["job_id"].get("NOT_FOUND", 0) > 5


def test_the_cases_are_the_same_for_the_same_seed(tmp_path):
    """A failure found by the fuzz run can be replayed: its cases are a function of the seed."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first, again = fuzz.build_corpus(3, tmp_path / "a"), fuzz.build_corpus(3, tmp_path / "b")
    assert [f.data for f in first] == [f.data for f in again]
    mutants = [fuzz.mutant(first, random.Random(f"3:exr_mutation:{i}")) for i in range(50)]
    assert mutants == [fuzz.mutant(again, random.Random(f"3:exr_mutation:{i}")) for i in range(50)]
    assert len({data for data, _ in mutants}) > 45
    for strategy in (fuzz.submit_cases(), fuzz.upload_cases, fuzz.job_id_cases):
        assert fuzz.draw_examples(strategy, 40, 3) == fuzz.draw_examples(strategy, 40, 3)
