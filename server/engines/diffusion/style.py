"""The style reference as the IP-Adapter sees it, and where in the UNet it may act.

IP-Adapter injects the reference image through extra cross-attention keys in every attention layer;
at full strength it copies the reference's layout too. InstantStyle (Wang et al. 2024) found one
block that carries style: on SDXL the middle layer of the first up block (`{"up": {"block_0":
[0.0, 1.0, 0.0]}}`), on SD 1.5 the first up block that has attention (`up_blocks.1`, community
practice; not verified on real weights here). `style_only` feeds the reference to that block alone.
`job_look` gathers what the reference sets on a job (the IP-Adapter and the colour lock), for both
diffusion engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stylelock.server.engines.base import ShotContext, StyleFrame
from stylelock.server.engines.diffusion.colour import ColourLock
from stylelock.server.engines.diffusion.library import ModelLibrary


def pick_style(styles: Sequence[StyleFrame]) -> StyleFrame | None:
    """The look image of the job: the first reference without a frame number, else the first one."""
    for style in styles:
        if style.frame is None:
            return style
    return styles[0] if styles else None


def style_image(style: StyleFrame):
    """The reference as an 8-bit PIL image (CLIP's image processor expects 8-bit values)."""
    from PIL import Image

    rgb = np.clip(np.rint(np.asarray(style.rgb, dtype=np.float32)[..., :3] * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, mode="RGB")


def ip_adapter_scales(unet: Any, params: Mapping[str, Any]) -> float | dict[str, Any]:
    """The `set_ip_adapter_scale` argument: one number, or the style block alone when style_only."""
    scale = float(params["ip_adapter_scale"])
    if not params["style_only"]:
        return scale
    block = next(i for i, up in enumerate(unet.up_blocks) if getattr(up, "attentions", None))
    layers = len(unet.up_blocks[block].attentions)
    sdxl = getattr(unet.config, "addition_embed_type", None) == "text_time"
    if sdxl and layers == 3:
        return {"up": {f"block_{block}": [0.0, scale, 0.0]}}
    return {"up": {f"block_{block}": scale}}


@dataclass(frozen=True)
class JobLook:
    """What a job's style reference sets on both diffusion engines: the IP-Adapter and the colour lock."""

    style: StyleFrame | None
    ip_adapter: Path | None
    """The IP-Adapter to load (`loading.ensure_ip_adapter`), or None to have none loaded."""
    ip_image: Any
    """The reference as the IP-Adapter's image input (8-bit PIL), or None when no IP-Adapter acts."""
    colour: ColourLock | None

    def set_scale(self, pipe: Any, params: Mapping[str, Any]) -> None:
        """Set the IP-Adapter's scale on the pipeline the job samples with (once it is built)."""
        if self.ip_image is not None:
            pipe.set_ip_adapter_scale(ip_adapter_scales(pipe.unet, params))


def job_look(shot: ShotContext, library: ModelLibrary) -> JobLook:
    """The look of `shot`: its style reference, the IP-Adapter it resolves to and its colour lock."""
    params = shot.params
    style = pick_style(shot.styles)
    ip_path = None
    if style is not None and params["ip_adapter_scale"] > 0:
        if library.ip_adapters or params["ip_adapter"]:
            ip_path = library.resolve_ip_adapter(params["ip_adapter"])
        else:
            shot.warn("no IP-Adapter is registered: the style image sets only the colour lock")
    colour = None
    if params["colour_lock"]:
        colour = ColourLock(
            style.rgb if style else None, style.alpha if style else None, params["colour_lock_strength"]
        )
    return JobLook(
        style=style,
        ip_adapter=ip_path,
        ip_image=style_image(style) if ip_path is not None and style is not None else None,
        colour=colour,
    )
