"""The build declares every package, and the import boundaries of DESIGN.md hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def declared_packages() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"]), config["package-dir"]


def test_every_package_folder_is_declared():
    packages, mapping = declared_packages()
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            parents = [ROOT / folder / Path(*relative.parts[:n]) for n in range(len(relative.parts))]
            if not all((parent / "__init__.py").exists() for parent in parents):
                continue  # under a data folder (host_plugins/nuke/...): not a package of the build
            found.add(".".join([package, *relative.parts]) if relative.parts else package)
    assert found == packages


def test_core_imports_no_torch_and_the_client_is_light():
    code = (
        "import sys, stylelock.core.jobspec, stylelock.core.params, stylelock.core.sequence;"
        "heavy = {'torch', 'diffusers', 'OpenImageIO', 'PyOpenColorIO'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_torch_is_imported_only_under_engines():
    offenders = []
    for folder in ("core", "host_plugins", "server"):
        for path in (ROOT / folder).rglob("*.py"):
            if folder == "server" and "engines" in path.relative_to(ROOT / folder).parts:
                continue
            for line in path.read_text().splitlines():
                stripped = line.strip()
                if stripped.startswith(("import torch", "from torch", "import diffusers", "from diffusers")):
                    offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    # server/info.py asks torch for the device name inside a function; that is the one exception.
    assert [o for o in offenders if not o.startswith("server/info.py")] == []
