"""Diffusion engines: `diffusion-image` (SD 1.x/2.x/SDXL img2img with temporal layers) and
`diffusion-video` (AnimateDiff video-to-video over overlapping windows).

Models come from local disk only, through the `ModelLibrary` the server is started with (or a path in
the `model` parameter). Importing this package costs numpy and the engine base alone: torch and
diffusers load inside `restyle`, so listing engines (`stylelock info`) stays cheap.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from stylelock.server.engines.base import Engine, ModelFrame, ShotContext
from stylelock.server.engines.diffusion.library import ModelLibrary, ModelSource
from stylelock.server.engines.diffusion.params import IMAGE_PARAMS, VIDEO_PARAMS

__all__ = ["DiffusionImageEngine", "DiffusionVideoEngine", "ModelLibrary", "ModelSource"]


class _DiffusionEngine(Engine):
    preview_params = MappingProxyType({"steps": 8})
    """Look development: fewer sampler steps."""

    def __init__(self, device: str = "cpu", *, models: ModelLibrary | None = None) -> None:
        super().__init__(device)
        self.models = models if models is not None else ModelLibrary()

    def identity(self, params: Mapping[str, Any], guides: Mapping[str, str]) -> str:
        from stylelock.server.engines.diffusion.identity import job_models_identity

        return job_models_identity(self.models, params, guides)

    def close(self) -> None:
        """Unload every resident pipeline (they are shared by both diffusion engines)."""
        loading = sys.modules.get("stylelock.server.engines.diffusion.loading")
        if loading is not None:
            loading.PIPELINES.clear()


class DiffusionImageEngine(_DiffusionEngine):
    name = "diffusion-image"
    summary = (
        "Stable Diffusion img2img (SD 1.x/2.x, SDXL) from local models, with ControlNet guides from the "
        "plate, IP-Adapter style lock and switchable temporal layers."
    )
    params = IMAGE_PARAMS

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        from stylelock.server.engines.diffusion.run import restyle_image

        yield from restyle_image(shot, frames, self.models, self.device)


class DiffusionVideoEngine(_DiffusionEngine):
    name = "diffusion-video"
    summary = (
        "AnimateDiff video-to-video from a local SD 1.x model and motion adapter, over overlapping "
        "windows with cross-faded seams."
    )
    params = VIDEO_PARAMS

    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        from stylelock.server.engines.diffusion.video import restyle_video

        yield from restyle_video(shot, frames, self.models, self.device)
