"""The models a server was started with, handed to the engines that load them.

`stylelock serve --model sd15=/models/sd15 --controlnet depth=/models/cn-depth --ip-adapter
/models/ip-adapter` builds one `ModelLibrary`; both diffusion engines receive it through the engine
cache, so a job names a model (`--param model=sd15`) instead of a path. Building the library reads
no weights: models load on first use and stay resident. A server builds it once, at start-up (where
its paths are checked), and describes that same library in `GetServerInfo`.
"""

from __future__ import annotations

import os
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
