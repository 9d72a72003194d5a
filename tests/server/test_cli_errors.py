"""Issue 2: each bad input gets one clear line, a documented exit code, and leaves no output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from exr_fixtures import write_test_exr

from stylelock.core.errors import EXIT_CODES
from stylelock.core.sample import write_sample_plate
from stylelock.server.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plate_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plate")
    write_sample_plate(folder, frames=list(range(1001, 1005)), width=48, height=32)
    return folder


def restyle(capsys, *args: str) -> tuple[int, str]:
    """Run `stylelock restyle`; return the exit code and the error line (progress lines precede it)."""
    code = main(["restyle", *args])
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("stylelock:")]
    assert len(errors) == (0 if code == 0 else 1), lines
    return code, errors[0] if errors else ""


def restyle_passthrough(capsys, plate: str, frames: str, out: str) -> tuple[int, str]:
    """`restyle` of `frames` of `plate` with the passthrough engine into `out`."""
    return restyle(capsys, plate, "--frames", frames, "--engine", "passthrough", "--out", out)


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def copy_plate(plate_dir: Path, target: Path) -> Path:
    shutil.copytree(plate_dir, target)
    return target


def test_missing_frames_name_them(capsys, plate_dir, tmp_path):
    out = tmp_path / "out"
    code, err = restyle_passthrough(
        capsys, str(plate_dir / "plate.####.exr"), "1001-1008", str(out / "o.####.exr")
    )
    assert code == 3
    assert "1005-1008" in err and err.count("\n") == 0
    assert outputs(out) == []


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_frame_is_named_and_nothing_is_half_written(capsys, plate_dir, tmp_path, damage):
    plate = copy_plate(plate_dir, tmp_path / "plate")
    victim = plate / "plate.1003.exr"
    data = victim.read_bytes()
    victim.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": b"not an exr " * 50, "empty": b""}[damage]
    )
    out = tmp_path / "out"
    code, err = restyle_passthrough(
        capsys, str(plate / "plate.####.exr"), "1001-1004", str(out / "o.####.exr")
    )
    assert code == 4, err
    assert "plate.1003.exr" in err and err.count("\n") == 0
    written = outputs(out)
    assert all(not name.startswith(".") and name.endswith(".exr") for name in written)
    assert "o.1003.exr" not in written and "o.1004.exr" not in written


def test_mismatched_resolution(capsys, plate_dir, tmp_path):
    plate = copy_plate(plate_dir, tmp_path / "plate")
    write_test_exr(
        plate / "plate.1002.exr",
        {c: np.zeros((20, 30), np.float16) for c in "RGBA"},
    )
    out = tmp_path / "out"
    code, err = restyle_passthrough(
        capsys, str(plate / "plate.####.exr"), "1001-1004", str(out / "o.####.exr")
    )
    assert code == 4
    assert "frame 1002" in err and "30x20" in err
    assert "o.1002.exr" not in outputs(out)


@pytest.mark.parametrize(
    ("extra", "code", "needle"),
    [
        (["--engine", "pasthrough"], 2, "did you mean passthrough"),
        (["--engine", "passthrough", "--param", "strength=1"], 2, "has no parameter 'strength'"),
        (["--engine", "passthrough", "--colorspace", "ACEScgg"], 2, "ACEScg"),
        (["--engine", "passthrough", "--ocio", "/no/such/config.ocio"], 2, "/no/such/config.ocio"),
        (["--engine", "passthrough", "--proxy", "3"], 2, "proxy scale 3"),
        (["--engine", "passthrough", "--mask", "matte.R"], 2, "mask channel 'matte.R'"),
        (["--engine", "keyframe"], 2, "needs a style reference"),
        (["--engine", "passthrough", "--style", "1001=/no/paint.exr"], 3, "/no/paint.exr"),
    ],
)
def test_bad_specs_fail_before_any_work(capsys, plate_dir, tmp_path, extra, code, needle):
    out = tmp_path / "out"
    got, err = restyle(
        capsys,
        str(plate_dir / "plate.####.exr"),
        "--frames",
        "1001-1004",
        "--out",
        str(out / "o.####.exr"),
        *extra,
    )
    assert (got, EXIT_CODES[got]) == (code, EXIT_CODES[code]), err
    assert needle in err and err.startswith("stylelock: error:") and err.count("\n") == 0
    assert outputs(out) == []


def test_unwritable_output(capsys, plate_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    code, err = restyle_passthrough(
        capsys, str(plate_dir / "plate.####.exr"), "1001", str(blocker / "sub" / "o.####.exr")
    )
    assert code == 5
    assert str(blocker) in err and err.count("\n") == 0
    assert blocker.read_text() == "a file where a folder should be"


def test_output_over_the_plate_is_refused(capsys, plate_dir, tmp_path):
    plate = copy_plate(plate_dir, tmp_path / "plate")
    before = (plate / "plate.1001.exr").read_bytes()
    code, err = restyle_passthrough(
        capsys, str(plate / "plate.####.exr"), "1001", str(plate / "plate.%04d.exr")
    )
    assert code == 2 and "would overwrite plate frame 1001" in err
    assert (plate / "plate.1001.exr").read_bytes() == before


def test_the_installed_command_reports_exit_codes(plate_dir, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylelock.server.cli",
            "restyle",
            str(plate_dir / "plate.####.exr"),
            "--frames",
            "1001-1009",
            "--engine",
            "passthrough",
            "--out",
            str(tmp_path / "o.####.exr"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]


def test_docs_list_every_exit_code():
    text = (ROOT / "docs" / "cli.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in text
