"""Where the bpy venvs are and what one Blender session recorded (shared by conftest and the tests)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent
#: Blender version -> its venv (created by .ci/bpy_venvs.sh; CI runs it before the tests).
VENVS = {"4.5": ROOT / ".venv-bpy45", "5.0": ROOT / ".venv-bpy50"}
SCENARIO_TIMEOUT = 300


def venv_python(version: str) -> Path:
    python = VENVS[version] / "bin" / "python"
    if not python.exists():
        pytest.fail(f"no bpy {version} venv at {VENVS[version]}: run .ci/bpy_venvs.sh (CI does)")
    return python


def blender_datafiles(version: str) -> Path:
    """The colour-management folder of the bpy in `version`'s venv (Blender's own OCIO config)."""
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
