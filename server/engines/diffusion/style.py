"""The style reference as the IP-Adapter sees it, and where in the UNet it may act.

IP-Adapter injects the reference image through extra cross-attention keys in every attention layer;
at full strength it copies the reference's layout too. InstantStyle (Wang et al. 2024) found one
block that carries style: on SDXL the middle layer of the first up block (`{"up": {"block_0":
[0.0, 1.0, 0.0]}}`), on SD 1.5 the first up block that has attention (`up_blocks.1`, community
practice; not verified on real weights here). `style_only` feeds the reference to that block alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stylelock.server.engines.base import StyleFrame


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
