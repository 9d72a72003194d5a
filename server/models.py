"""The models a server was started with, handed to the engines that load them.

`stylelock serve --model sd15=/models/sd15 --controlnet depth=/models/cn-depth --ip-adapter
/models/ip-adapter` builds one `ModelLibrary`; both diffusion engines receive it through the engine
cache, so a job names a model (`--param model=sd15`) instead of a path. Building the library reads
no weights: models load on first use and stay resident. A server builds it once, at start-up (where
its paths are checked), and describes that same library in `GetServerInfo`.

`model_problems` is the server's readiness check: it opens every file of every registered model and
reads the headers of its weights (a safetensors header and the size it promises, a checkpoint's zip
directory), never the weights themselves, so a folder missing a component, a weights file cut short
or a file the server's user cannot read keeps the server NOT_SERVING with a reason (docs/server.md).
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

from stylelock.core.errors import SpecError
from stylelock.server.config import ServerConfig

#: Engines constructed with `models=ModelLibrary`.
MODEL_ENGINES = ("diffusion-image", "diffusion-video")


def model_library(config: ServerConfig) -> Any:
    """The `ModelLibrary` of the server's model settings (checked: names, paths that exist)."""
    from stylelock.server.engines.diffusion.library import ModelLibrary

    library = ModelLibrary.from_cli(
        models=config.models,
        controlnets=config.controlnets,
        ip_adapters=config.ip_adapters,
        motion_adapters=config.motion_adapters,
        configs=config.model_configs,
    )
    for kind, names in library.describe().items():
        for name, path in names.items():
            if not os.path.exists(path):
                flag = "--" + kind.rstrip("s").replace("_", "-")
                raise SpecError(f"{flag} {name}={path}: {path} does not exist")
    return library


def engine_options(library: Any) -> dict[str, dict[str, Any]]:
    """Constructor keywords per engine name, for `EngineCache(engine_options=...)`."""
    return {name: {"models": library} for name in MODEL_ENGINES}


def describe_models(library: Any) -> dict[str, dict[str, str]]:
    """kind -> name -> path of the kinds that have models, as `stylelock info` shows them."""
    return {kind: names for kind, names in library.describe().items() if names}


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
#: Files looked at per registered path at most (a model folder holds tens; this bounds a wrong path).
MAX_FILES_CHECKED = 5000
_KIND_NAMES = {
    "models": "model",
    "controlnets": "ControlNet",
    "ip_adapters": "IP-Adapter",
    "motion_adapters": "motion adapter",
    "model_configs": "model config",
}


def model_problems(library: Any) -> list[str]:
    """One line per registered model, ControlNet, adapter or config folder that cannot be loaded as
    it is on disk (missing, unreadable, incomplete, cut short); [] when every one can."""
    problems: list[str] = []
    registered = [
        (kind, name, path) for kind, names in library.describe().items() for name, path in names.items()
    ]
    registered += [("model_configs", name, str(path)) for name, path in library.configs.items()]
    for kind, name, path in registered:
        problem = _path_problem(kind, Path(path))
        if problem:
            problems.append(f"{_KIND_NAMES.get(kind, kind)} {name} ({path}): {problem}")
    return problems


def _path_problem(kind: str, path: Path) -> str | None:
    try:
        if not path.exists():
            return "does not exist"
        if path.is_file():
            return _weights_problem(path) if kind != "model_configs" else "is a file, not a config folder"
        return _folder_problem(kind, path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"


def _folder_problem(kind: str, folder: Path) -> str | None:
    needed = {
        "models": "model_index.json",
        "model_configs": "model_index.json",
        "controlnets": "config.json",
        "motion_adapters": "config.json",
    }.get(kind)
    if needed and not (folder / needed).is_file():
        return f"has no {needed} (not a diffusers folder)"
    if kind == "models":
        index = _json(folder / "model_index.json")
        if isinstance(index, str):
            return f"model_index.json {index}"
        for component, value in sorted(index.items()):
            if isinstance(value, list) and len(value) == 2 and value[0] and not (folder / component).is_dir():
                return f"its {component}/ folder is missing (model_index.json names it)"
    if kind == "ip_adapters" and not (folder / "image_encoder").is_dir():
        return "has no image_encoder/ folder"
    checked = 0
    for root, dirs, files in os.walk(folder, onerror=_raise):
        dirs.sort()
        here = Path(root)
        has_weights = any(f.endswith(WEIGHT_SUFFIXES) or f.endswith(".index.json") for f in files)
        if "config.json" in files and kind != "model_configs" and not has_weights:
            return f"{_rel(here / 'config.json', folder)} has no weights beside it"
        for file in sorted(files):
            checked += 1
            if checked > MAX_FILES_CHECKED:
                return None
            target = here / file
            if file.endswith(".json"):
                problem = _json(target)
                problem = problem if isinstance(problem, str) else None
            elif file.endswith(WEIGHT_SUFFIXES):
                problem = _weights_problem(target)
            else:
                problem = _readable(target)
            if problem:
                return f"{_rel(target, folder)} {problem}"
    if kind == "ip_adapters" and not any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir()):
        return "holds no adapter weights file"
    return None


def _raise(error: OSError) -> None:
    raise error


def _rel(path: Path, folder: Path) -> str:
    return str(path.relative_to(folder))


def _readable(path: Path) -> str | None:
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def _json(path: Path) -> dict[str, Any] | str:
    """The JSON object in `path`, or what is wrong with it."""
    try:
        value = json.loads(path.read_bytes())
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except ValueError:
        return "is not valid JSON"
    return value if isinstance(value, dict) else "is not a JSON object"


def _weights_problem(path: Path) -> str | None:
    """What keeps a weights file from loading, read from its header only."""
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        return f"is not a weights file ({', '.join(WEIGHT_SUFFIXES)})"
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            head = file.read(8)
            if path.suffix.lower() == ".safetensors":
                if len(head) < 8:
                    return "is not a safetensors file (shorter than its header)"
                (length,) = struct.unpack("<Q", head)
                if length > 512 * 1024 * 1024:
                    return "is not a safetensors file (its header length is not plausible)"
                if length > size - 8:
                    return f"is cut short ({size:,} bytes; its header alone takes {8 + length:,})"
                try:
                    header = json.loads(file.read(length))
                except ValueError:
                    return "is not a safetensors file (its header is not JSON)"
                ends = [
                    v["data_offsets"][1]
                    for k, v in (header.items() if isinstance(header, dict) else ())
                    if k != "__metadata__" and isinstance(v, dict) and len(v.get("data_offsets", ())) == 2
                ]
                promised = 8 + length + max(ends, default=0)
                if size < promised:
                    return f"is cut short ({size:,} bytes; its header promises {promised:,})"
                return None
        if not head:
            return "is empty"
        if head.startswith(b"PK"):  # torch's zip format: its directory sits at the end of the file
            try:
                with zipfile.ZipFile(path):
                    pass
            except zipfile.BadZipFile:
                return "is cut short or damaged (its zip directory cannot be read)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None
