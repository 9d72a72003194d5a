"""The client's own files for a host's Python: wheels for its version and platform, and the sources.

A host runs its own Python (Nuke 15 ships 3.10, Blender 4.2-5.0 ship 3.11, ...), on any of three
platforms, so the client's dependencies (grpcio, protobuf, fileseq and what they need) are fetched
as binary wheels for that Python and platform with pip, never built, and never anything heavier:
no OpenImageIO, OpenColorIO, OpenCV, numpy or torch goes into a host. The versions are the ones
this installation runs with, so a host talks to the server with the protobuf its stubs were made for.

`copy_client_sources` copies the part of `stylelock` a host imports (the thin client, job specs,
the shared host logic, the gRPC stubs), not the pipeline, engines or colour code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from stylelock.core.errors import SpecError, StyleLockError

#: What a host needs beyond the standard library (their own dependencies come with them).
CLIENT_DISTRIBUTIONS = ("grpcio", "protobuf", "fileseq")

#: Wheel platform tags pip may choose from, per platform name (best first is pip's own choice).
PLATFORM_TAGS: dict[str, tuple[str, ...]] = {
    "linux": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "macos": (
        "macosx_11_0_universal2",
        "macosx_11_0_arm64",
        "macosx_11_0_x86_64",
        "macosx_10_15_x86_64",
        "macosx_10_9_universal2",
        "macosx_10_9_x86_64",
    ),
    "windows": ("win_amd64",),
}
PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13")

#: The `stylelock` sources a host imports, relative to the package folders the build maps.
_CORE_MODULES = (
    "__init__.py",
    "errors.py",
    "paths.py",
    "jobspec.py",
    "spec_shape.py",
    "params.py",
    "sequence.py",
    "temporal.py",
)
_CORE_PACKAGES = ("client", "hosts")


class PackagingError(StyleLockError):
    """Fetching a host's wheels failed (no wheel for that Python and platform, no network)."""

    exit_code = 5
    grpc_status = "FAILED_PRECONDITION"


def client_requirements() -> list[str]:
    """Pinned requirements: the versions of the client's dependencies installed here."""
    pins = []
    for name in CLIENT_DISTRIBUTIONS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise PackagingError(f"{name} is not installed here, so its version cannot be pinned") from None
    return pins


def check_target(python: str, platform: str) -> tuple[str, ...]:
    if python not in PYTHON_VERSIONS:
        raise SpecError(f"--python {python} is not one of {', '.join(PYTHON_VERSIONS)}")
    if platform not in PLATFORM_TAGS:
        raise SpecError(f"--platform {platform} is not one of {', '.join(PLATFORM_TAGS)}")
    return PLATFORM_TAGS[platform]


def _pip(args: list[str], python: str, platform: str) -> None:
    tags = check_target(python, platform)
    command = [
        sys.executable,
        "-m",
        "pip",
        *args,
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python,
        *[f"--platform={tag}" for tag in tags],
        *client_requirements(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")] or [
            result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "pip failed"
        ]
        raise PackagingError(f"fetching the client's wheels for Python {python} on {platform}: {lines[0]}")


def install_client_wheels(target: Path, *, python: str, platform: str) -> None:
    """Unpack the client's wheels for `python` on `platform` into `target` (importable from there)."""
    _pip(["install", "--target", str(target), "--upgrade", "--no-compile"], python, platform)


def download_client_wheels(dest: Path, *, python: str, platform: str) -> list[Path]:
    """Download (not unpack) the client's wheels into `dest`; returns the wheel files."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    _pip(["download", "--dest", str(dest)], python, platform)
    return sorted(set(dest.glob("*.whl")) - before) or sorted(dest.glob("*.whl"))


def copy_client_sources(target: Path) -> list[Path]:
    """Copy the `stylelock` modules a host imports into `target/stylelock/`; returns the files."""
    import stylelock.core as core
    import stylelock.v1 as v1

    core_dir, v1_dir = Path(core.__file__).parent, Path(v1.__file__).parent
    out = target / "stylelock"
    copied = []
    for name in _CORE_MODULES:
        copied.append(_copy(core_dir / name, out / "core" / name))
    for package in _CORE_PACKAGES:
        for source in sorted((core_dir / package).glob("*.py")):
            copied.append(_copy(source, out / "core" / package / source.name))
    for source in sorted(v1_dir.glob("*.py")):
        copied.append(_copy(source, out / "v1" / source.name))
    return copied


def _copy(source: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, destination)
    return destination
