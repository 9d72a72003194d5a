"""The Blender extension zip: the add-on's files, its manifest, and the client's wheels for every
platform Blender runs on (`stylelock hosts blender build OUT.zip`).

Blender 4.2+ installs an extension from one zip (Edit > Preferences > Get Extensions > Install from
Disk). Its `blender_manifest.toml` lists the wheels inside; Blender installs those matching the
machine it runs on into a site-packages of the extension's own. Blender 4.2-5.0 run Python 3.11,
so the zip carries grpcio, protobuf, fileseq and their dependencies as cp311/abi3/pure wheels for
Linux x64, macOS (x64 and arm64: universal2 wheels) and Windows x64, plus the StyleLock client
itself as a pure-Python wheel (`wheel.client_wheel`). Nothing heavier: the server runs elsewhere.

`bundled_colorspaces.json` lists the colour-space names (and aliases) the server's bundled OCIO
config resolves, so the add-on knows when to hand the server Blender's own config instead
(`host_colour`).
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from stylelock.core.errors import OutputError
from stylelock.core.hosts.packaging import PackagingError, client_requirements, download_client_wheels
from stylelock.core.hosts.wheel import client_wheel

EXTENSION_ID = "stylelock"
BLENDER_VERSION_MIN = "4.2.0"
#: The Python of Blender 4.2 to 5.0 (5.1 moves to 3.13).
BLENDER_PYTHON = "3.11"
#: Blender platform -> the `packaging` platform whose wheels serve it.
PLATFORMS = {"linux-x64": "linux", "macos-x64": "macos", "macos-arm64": "macos", "windows-x64": "windows"}
COLOURSPACES_FILE = "bundled_colorspaces.json"
#: Add-on files taken from `stylelock.host_plugins/blender` (never its caches).
_ADDON_SUFFIXES = (".py",)

PERMISSIONS = {
    "network": "Send frames to the StyleLock server, receive restyled ones",
    "files": "Render the plate to a cache folder, load restyled EXR frames",
}


@dataclass(frozen=True)
class BuiltExtension:
    path: Path
    version: str
    wheels: tuple[str, ...]
    size: int


def addon_folder() -> Path:
    """The add-on's own files (the zip's top level), shipped as `stylelock.host_plugins` package data
    in `blender/addon/` (a folder without an `__init__.py` above it, so the build does not take the
    add-on for a package of its own)."""
    return Path(str(resources.files("stylelock.host_plugins") / "blender" / "addon"))


def version() -> str:
    try:
        return metadata.version("stylelock")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _toml_list(values: Iterable[str]) -> str:
    items = list(values)
    if not items:
        return "[]"
    return "[\n" + "".join(f"  {_toml_string(v)},\n" for v in items) + "]"


def manifest_text(extension_version: str, wheels: Sequence[str]) -> str:
    """`blender_manifest.toml` (schema 1.0.0) for this version and these `./wheels/...` paths."""
    lines = [
        'schema_version = "1.0.0"',
        "",
        f"id = {_toml_string(EXTENSION_ID)}",
        f"version = {_toml_string(extension_version)}",
        'name = "StyleLock"',
        'tagline = "Restyle the rendered range on a StyleLock server"',
        'maintainer = "StyleLock"',
        'type = "add-on"',
        'tags = ["Compositing", "Render"]',
        f"blender_version_min = {_toml_string(BLENDER_VERSION_MIN)}",
        # Add-ons link against Blender's GPL Python API.
        'license = ["SPDX:GPL-3.0-or-later"]',
        f"platforms = {_toml_list(PLATFORMS)}",
        f"wheels = {_toml_list(wheels)}",
        "",
        "[permissions]",
        *(f"{key} = {_toml_string(reason)}" for key, reason in PERMISSIONS.items()),
        "",
    ]
    return "\n".join(lines)


def blender_platforms_of_wheel(filename: str) -> set[str]:
    """The Blender platforms a wheel serves, from its platform tag (as Blender's installer reads it)."""
    tag = filename.removesuffix(".whl").split("-")[-1]
    if tag == "any":
        return set(PLATFORMS)
    found: set[str] = set()
    for single in tag.split("."):
        if single.startswith("win") and single.endswith("amd64"):
            found.add("windows-x64")
        elif re.match(r"^(many|musl)linux", single) and single.endswith("x86_64"):
            found.add("linux-x64")
        elif single.startswith("macosx_"):
            if single.endswith(("_universal2", "_x86_64", "_intel")):
                found.add("macos-x64")
            if single.endswith(("_universal2", "_arm64")):
                found.add("macos-arm64")
    return found


def _distribution(filename: str) -> str:
    return filename.split("-")[0].lower().replace("_", "-")


def check_platform_coverage(wheels: Iterable[str]) -> None:
    """Every distribution has a wheel for every Blender platform, or a `PackagingError` names the gap."""
    covered: dict[str, set[str]] = {}
    for name in wheels:
        covered.setdefault(_distribution(name), set()).update(blender_platforms_of_wheel(name))
    for distribution, platforms in sorted(covered.items()):
        missing = sorted(set(PLATFORMS) - platforms)
        if missing:
            raise PackagingError(f"no {distribution} wheel for Blender on {', '.join(missing)}")


def bundled_colorspaces() -> list[str]:
    """Names and aliases of the colour spaces in the bundled OCIO config (what the server resolves)."""
    from stylelock.core.colour.config import bundled_config

    config = bundled_config().config
    names: set[str] = set()
    for space in config.getColorSpaces():
        names.add(space.getName())
        names.update(space.getAliases())
    return sorted(names)


def fetch_wheels(dest: Path) -> list[Path]:
    """The client's dependency wheels for Blender's Python on each platform family, deduplicated."""
    for family in sorted(set(PLATFORMS.values())):
        download_client_wheels(dest, python=BLENDER_PYTHON, platform=family)
    return sorted(dest.glob("*.whl"))


def build_extension(out: Path) -> BuiltExtension:
    """Write the extension zip `out` (wheels come through pip, whose cache makes a rebuild cheap)."""
    if out.suffix.lower() != ".zip":
        raise OutputError(f"{out} must end with .zip (Blender installs extensions from a zip)")
    extension_version = version()
    with tempfile.TemporaryDirectory(prefix="stylelock-blender-") as scratch:
        dependencies = fetch_wheels(Path(scratch) / "wheels")
        check_platform_coverage(w.name for w in dependencies)
        own = client_wheel(Path(scratch) / "client", extension_version, client_requirements())
        wheel_files = [own, *dependencies]
        listed = [f"./wheels/{w.name}" for w in wheel_files]
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("blender_manifest.toml", manifest_text(extension_version, listed))
            for source in sorted(addon_folder().iterdir()):
                if source.is_file() and source.suffix in _ADDON_SUFFIXES:
                    archive.write(source, source.name)
            archive.writestr(COLOURSPACES_FILE, json.dumps(bundled_colorspaces(), indent=0))
            for wheel in wheel_files:
                archive.write(wheel, f"wheels/{wheel.name}", compress_type=zipfile.ZIP_STORED)
        partial.replace(out)
    return BuiltExtension(out, extension_version, tuple(listed), out.stat().st_size)
