"""A committed benchmark result must have measured the code that is here now.

Each `bench/results/*.json` records the commit it ran at and a hash of every file its bench
declares in `MEASURES` (`bench/provenance.py`). Editing one of those files without re-running the
bench fails this test, naming the bench to re-run; docs quote figures from these files only.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import provenance  # noqa: E402 - bench/ is not a package

RESULTS = sorted((ROOT / "bench" / "results").glob("*.json"))


def declared_measures(script: Path) -> list[str]:
    """The script's MEASURES, evaluated from its source with only `bench/provenance.py`'s shared
    groups in scope, and another bench's MEASURES where it imports them (``from keyframe_qc import
    MEASURES as NAME``), read the same way (a bench may need extras this suite lacks, so it is not
    imported)."""
    body = ast.parse(script.read_text(encoding="utf-8")).body
    scope = dict(vars(provenance))
    for node in body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and (script.parent / f"{node.module}.py").exists()
        ):
            for alias in node.names:
                if alias.name == "MEASURES":
                    scope[alias.asname or alias.name] = declared_measures(script.parent / f"{node.module}.py")
    for node in body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MEASURES" for t in node.targets):
            expression = compile(ast.Expression(node.value), str(script), "eval")
            return list(eval(expression, {"__builtins__": {}}, scope))
    raise AssertionError(
        f"{script.relative_to(ROOT)} declares no MEASURES: list the files its numbers depend on and "
        "record stamp(...) in its result (bench/provenance.py)"
    )


def test_every_declared_bench_measures_itself_and_existing_files() -> None:
    for script in sorted((ROOT / "bench").glob("*.py")):
        if "\nMEASURES = " in script.read_text(encoding="utf-8"):
            measures = declared_measures(script)
            assert f"bench/{script.name}" in measures, f"{script.name} must measure itself"
            provenance.measured_files(measures)  # every entry exists


@pytest.mark.parametrize("result", RESULTS, ids=[p.name for p in RESULTS])
def test_result_measured_the_code_that_is_here(result: Path) -> None:
    data = json.loads(result.read_text(encoding="utf-8"))
    name = result.relative_to(ROOT)
    assert "provenance" in data, (
        f"{name} records no provenance: declare MEASURES in its bench, put stamp(...) in the result "
        "(bench/provenance.py), re-run it and commit the result"
    )
    record = data["provenance"]
    script = ROOT / record["script"]
    rerun = f"re-run `python {record['script']}` and commit {name}"
    assert record["measures"] == declared_measures(script), f"{script.name}'s MEASURES changed: {rerun}"
    assert record["code_hash"] == provenance.code_hash(record["files"]), f"{name}'s provenance is corrupt"
    assert record["commit"], f"{name} was not measured in a git checkout: {rerun}"
    changed = provenance.changes(record)
    assert not changed, (
        f"{name} is stale: the code it measured at commit {record['commit'][:12]} has changed since "
        f"({'; '.join(changed)}): {rerun}"
    )


def test_an_edit_to_a_measured_file_is_caught(tmp_path: Path) -> None:
    """The mechanism itself, on a copy: an edit, a new module in a measured folder and a deleted
    file each make the result stale; a file outside MEASURES does not."""
    for folder in ("pkg", "other"):
        (tmp_path / folder).mkdir()
    (tmp_path / "pkg" / "engine.py").write_text("GAIN = 1.0\n")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "engine.pyc").write_bytes(b"\0")
    (tmp_path / "bench.py").write_text("MEASURES = ('pkg', 'bench.py')\n")
    (tmp_path / "other" / "unrelated.py").write_text("X = 1\n")
    record = provenance.stamp("bench.py", ("pkg", "bench.py"), root=tmp_path)
    assert sorted(record["files"]) == ["bench.py", "pkg/engine.py"]
    assert provenance.changes(record, root=tmp_path) == []

    (tmp_path / "other" / "unrelated.py").write_text("X = 2\n")
    (tmp_path / "pkg" / "engine.py").write_bytes(b"GAIN = 1.0\r\n")  # a CRLF checkout is no change
    assert provenance.changes(record, root=tmp_path) == []
    (tmp_path / "pkg" / "engine.py").write_text("GAIN = 2.0\n")
    assert provenance.changes(record, root=tmp_path) == ["pkg/engine.py changed"]
    (tmp_path / "pkg" / "engine.py").write_text("GAIN = 1.0\n")
    (tmp_path / "pkg" / "extra.py").write_text("")
    assert provenance.changes(record, root=tmp_path) == ["pkg/extra.py added"]
    (tmp_path / "pkg" / "extra.py").unlink()
    (tmp_path / "pkg" / "engine.py").unlink()
    assert provenance.changes(record, root=tmp_path) == ["pkg/engine.py removed"]
    shutil.rmtree(tmp_path / "pkg")
    assert "'pkg', which does not exist" in provenance.changes(record, root=tmp_path)[0]


def test_a_result_records_the_commit_and_what_was_not_committed(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True
        ).stdout

    git("init", "-q")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "engine.py").write_text("GAIN = 1.0\n")
    (tmp_path / "bench.py").write_text("")
    git("add", "pkg", "bench.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD").strip()
    assert provenance.stamp("bench.py", ("pkg", "bench.py"), root=tmp_path)["uncommitted"] == []
    (tmp_path / "pkg" / "engine.py").write_text("GAIN = 2.0\n")
    (tmp_path / "pkg" / "new.py").write_text("")
    record = provenance.stamp("bench.py", ("pkg", "bench.py"), root=tmp_path)
    assert record["commit"] == head
    assert record["uncommitted"] == ["pkg/engine.py", "pkg/new.py"]
