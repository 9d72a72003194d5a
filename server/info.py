"""What this installation can do: engines with their parameter schemas, versions, device, colour.

`stylelock info` prints it and the gRPC server answers GetServerInfo with the same dictionary, so
a host builds the same UI whether it talks to a local install or a server.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from stylelock.core import __version__
from stylelock.server.engines import available_engines

_PACKAGES = ("openimageio", "opencolorio", "numpy", "grpcio", "torch", "diffusers")


def package_versions() -> dict[str, str]:
    versions = {"stylelock": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def compute_device() -> dict[str, Any]:
    """The device engines run on. Imports torch (only here and in engines) when it is installed."""
    name = platform.processor() or platform.machine()
    cpu: dict[str, Any] = {"kind": "cpu", "name": name, "memory_bytes": 0}
    try:
        import torch
    except ImportError:
        return cpu
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"kind": "cuda", "name": props.name, "memory_bytes": int(props.total_memory)}
    return {**cpu, "threads": torch.get_num_threads()}


def server_info(ocio: str | None = None) -> dict[str, Any]:
    from stylelock.core.colour import resolve_config

    config = resolve_config(ocio)
    return {
        "versions": package_versions(),
        "device": compute_device(),
        "colour": {"config": config.name, "source": config.source, "description": config.description},
        "engines": [cls.describe() for cls in available_engines().values()],
    }
