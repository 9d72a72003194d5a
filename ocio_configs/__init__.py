"""The OpenColorIO config StyleLock ships, used when neither `--ocio` nor `$OCIO` names one.

`stylelock.ocio` is written by `build_config.py` from a pinned, versioned OCIO built-in config
(`BASE_BUILTIN`) plus aliases for host colour-space names and StyleLock's model-space roles.
Regenerate it with `python -m stylelock.ocio_configs.build_config`; README.md in this folder says
what it contains. Importing this package does not import OpenColorIO.
"""

from __future__ import annotations

from pathlib import Path

#: This folder (installed as package data of `stylelock.ocio_configs`).
CONFIG_DIR: Path = Path(__file__).resolve().parent

#: The bundled config file.
BUNDLED_CONFIG: Path = CONFIG_DIR / "stylelock.ocio"

#: The OCIO built-in the bundled config is derived from. Profile 2.4, so any OpenColorIO >= 2.4
#: (the floor in pyproject.toml, VFX Reference Platform 2025) reads the generated file.
BASE_BUILTIN: str = "cg-config-v2.2.0_aces-v1.3_ocio-v2.4"

__all__ = ["BASE_BUILTIN", "BUNDLED_CONFIG", "CONFIG_DIR"]
