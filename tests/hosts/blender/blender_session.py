"""Where the bpy venvs are and what one Blender session recorded (shared by conftest and the tests)."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent
#: Blender version -> its venv (made by .ci/bpy_venvs.sh: by CI, or by these tests when it is missing).
VENVS = {"4.5": ROOT / ".venv-bpy45", "5.0": ROOT / ".venv-bpy50"}
SCENARIO_TIMEOUT = 300
SETUP_TIMEOUT = 1800


def venv_python(version: str) -> Path:
    """The venv's Python; on a fresh machine the venvs are made first, so the README's one test
    command (`python3 -m pytest -q`) runs these tests too. Their making failing fails the test."""
    python = VENVS[version] / "bin" / "python"
    if not python.exists():
        setup = subprocess.run(
            ["bash", str(ROOT / ".ci" / "bpy_venvs.sh")],
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT,
            check=False,
        )
        if setup.returncode != 0 or not python.exists():
            pytest.fail(f"making the bpy {version} venv failed: {setup.stderr.strip()[-800:]}")
    return python


def blender_datafiles(version: str) -> Path:
    """The colour-management folder of the bpy in `version`'s venv (Blender's own OCIO config)."""
    venv_python(version)  # the venv exists first
    found = sorted(
        VENVS[version].glob(f"lib/python3.*/site-packages/bpy/{version}/datafiles/colormanagement")
    )
    if not found:
        pytest.fail(f"bpy {version} in {VENVS[version]} has no datafiles/colormanagement")
    return found[0]


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@dataclass(frozen=True)
class Session:
    """One Blender's run of scenario.py."""

    version: str
    work: Path
    cache: Path
    result: dict[str, Any]
    address: str

    def outputs(self, name: str) -> Path:
        return self.work / name
