"""The identity of the model files a diffusion job loads, for resume keys.

A model is identified by its content: every file under its path, by its path relative to the model
(its folder, or the file itself) and the SHA-256 of its bytes. Replacing a checkpoint, a ControlNet,
an IP-Adapter or a motion adapter, or editing a config, changes the identity and redoes the frames
made with it; the same model installed at another path, or on another farm worker, is the same.
Digests are remembered per file (`stylelock.server.resume.DIGESTS`, by path, size and times), so a
long-lived server reads a multi-gigabyte checkpoint once, not per job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from stylelock.core.errors import StyleLockError
from stylelock.server.engines.diffusion.library import ModelLibrary, controlnet_paths
from stylelock.server.resume import DIGESTS


def files_identity(paths: Iterable[Path]) -> str:
    """Relative name and content of every file under `paths` (hidden ones skipped)."""
    digest = hashlib.sha256()
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        digest.update(b"|model")
        for path in files:
            relative = path.relative_to(root) if path != root else Path(path.name)
            if any(part.startswith(".") for part in relative.parts):
                continue
            digest.update(f"|{relative.as_posix()}:{DIGESTS.digest(str(path))}".encode())
    return digest.hexdigest()[:16]


def job_models_identity(library: ModelLibrary, params: Mapping[str, Any], guides: Mapping[str, str]) -> str:
    """The identity of the model, ControlNets, IP-Adapter and motion adapter a job may load. One that
    does not resolve (the job will fail to load it) is named by its error, so the key still differs."""
    paths: list[Path] = []
    problems: list[str] = []

    def add(resolve: Any, *args: Any) -> None:
        try:
            found = resolve(*args)
        except StyleLockError as exc:
            problems.append(exc.message)
            return
        paths.append(found)

    try:
        source = library.resolve_model(str(params.get("model", "")))
        paths.append(source.path)
        if source.config is not None:
            paths.append(source.config)
    except StyleLockError as exc:
        problems.append(exc.message)
    try:
        extra = controlnet_paths(str(params.get("controlnet_paths", "")))
    except StyleLockError as exc:
        problems.append(exc.message)
        extra = {}
    nets = replace(library, controlnets={**library.controlnets, **extra}) if extra else library
    for name in guides:
        add(nets.resolve_controlnet, name)
    if library.ip_adapters or params.get("ip_adapter"):
        add(library.resolve_ip_adapter, str(params.get("ip_adapter", "")))
    if "motion_adapter" in params:
        add(library.resolve_motion_adapter, str(params.get("motion_adapter", "")))
    identity = files_identity(paths)
    return identity if not problems else f"{identity}|" + "|".join(sorted(problems))
