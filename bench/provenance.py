"""What a benchmark result measured, so that a result whose code has changed cannot pass for current.

Every bench script declares ``MEASURES``: the files and folders, relative to the repository root,
whose code its numbers depend on (the engine package it drives, the metrics it reports, the plate
it renders, and the script itself), as a tuple that may splice in the shared groups below. Chosen
narrowly on purpose: a module the bench only passes through (the pipeline's orchestration, the
CLI, the gRPC service at large) is left out, so that unrelated work does not stale every result.
``stamp`` turns the list into the block each result JSON carries under ``"provenance"``:

    {"script": "bench/keyframe.py", "commit": "<git HEAD when it ran>",
     "uncommitted": [measured files that differed from that commit], "measures": [...],
     "code_hash": "<sha256 over the files>", "files": {"<path>": "<sha256>", ...}}

A folder stands for every file under it (``__pycache__`` and ``*.pyc`` aside), so a module added
to a measured package counts too. ``changes`` recomputes the hashes and lists what differs;
``tests/test_bench_results_fresh.py`` fails on any difference, naming the bench to re-run.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: MEASURES entries several benches share: the metrics that score a restyle (QC's warp error and
#: palette drift, and the DIS flow they fall back on) ...
SCORING = ("core/flow.py", "core/metrics")
#: ... and the synthetic sample plate as an engine sees it (rendered, written, decoded to model space).
SAMPLE_PLATE = ("core/sample", "core/colour/codec.py")


def measured_files(measures: Iterable[str], root: Path = ROOT) -> list[str]:
    """The files `measures` names, as sorted repository-relative POSIX paths."""
    found: set[str] = set()
    for entry in measures:
        path = root / entry
        if path.is_dir():
            found.update(
                p.relative_to(root).as_posix()
                for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            )
        elif path.is_file():
            found.add(path.relative_to(root).as_posix())
        else:
            raise FileNotFoundError(f"a bench measures {entry!r}, which does not exist under {root}")
    return sorted(found)


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes, line endings normalised (a checkout's CRLF is not a change)."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def code_hash(files: Mapping[str, str]) -> str:
    """One hash over every file's path and hash."""
    listing = "".join(f"{path}\0{digest}\n" for path, digest in sorted(files.items()))
    return hashlib.sha256(listing.encode()).hexdigest()


def _git(root: Path, *args: str) -> str | None:
    """git's output as it printed it (porcelain lines start with a status column that may be blank)."""
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout


def stamp(script: str, measures: Iterable[str], root: Path = ROOT) -> dict:
    """The provenance block for a result of `script` (repository-relative) measuring `measures`."""
    measures = list(measures)
    files = {path: file_hash(root / path) for path in measured_files(measures, root)}
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *measures)
    return {
        "script": script,
        "commit": (_git(root, "rev-parse", "HEAD") or "").strip() or None,
        "uncommitted": sorted(line[3:] for line in (status or "").splitlines()),
        "measures": measures,
        "code_hash": code_hash(files),
        "files": files,
    }


def changes(provenance: Mapping, root: Path = ROOT) -> list[str]:
    """What differs between the code a result measured and the code on disk now ([] when none)."""
    recorded: Mapping[str, str] = provenance["files"]
    try:
        now = {path: file_hash(root / path) for path in measured_files(provenance["measures"], root)}
    except FileNotFoundError as exc:
        return [str(exc)]
    changed = [f"{p} changed" for p in sorted(set(now) & set(recorded)) if now[p] != recorded[p]]
    added = [f"{p} added" for p in sorted(set(now) - set(recorded))]
    removed = [f"{p} removed" for p in sorted(set(recorded) - set(now))]
    return changed + added + removed
