"""Style references on disk: an EXR paint-over or a display-referred PNG/JPEG/TIFF picture.

Shared by the server pipeline (`stylelock.server.frames.load_style`) and `stylelock qc`, so both read
a reference the same way and fail with the same messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stylelock.core.errors import CorruptFrameError, SpecError

if TYPE_CHECKING:
    from stylelock.core.colour.codec import ModelSpaceCodec

__all__ = ["DISPLAY_IMAGE_SUFFIXES", "decode_style_image", "read_display_image"]

DISPLAY_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})


def read_display_image(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A display-referred picture (sRGB) as float32 (h, w, 3) RGB and its alpha, via OpenImageIO.

    Values are the file's code values scaled to [0, 1]; a one- or two-channel picture is grey (its
    first channel repeated); alpha is the fourth channel, or None. Raises `CorruptFrameError` when
    OpenImageIO cannot open or decode the file.
    """
    import OpenImageIO as oiio

    source = oiio.ImageInput.open(path)
    if source is None:
        raise CorruptFrameError(f"style reference {path} cannot be decoded: {oiio.geterror()}")
    try:
        channels = source.spec().nchannels
        pixels = source.read_image(oiio.FLOAT)
    finally:
        source.close()
    if pixels is None:
        raise CorruptFrameError(f"style reference {path} cannot be decoded: {oiio.geterror()}")
    pixels = np.asarray(pixels, dtype=np.float32).reshape(pixels.shape[0], pixels.shape[1], channels)
    rgb = pixels[..., :3] if channels >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    alpha = pixels[..., 3].copy() if channels >= 4 else None
    return np.ascontiguousarray(rgb), alpha


def decode_style_image(
    path: str, codec: ModelSpaceCodec, layer: str = ""
) -> tuple[np.ndarray, np.ndarray | None]:
    """A style reference in ``codec``'s model space at its own resolution, and its alpha.

    An EXR is in the plate's colour space (a paint-over done in the comp): its ``layer`` is read, or
    the unprefixed RGB when the file has no such layer. A PNG/JPEG/TIFF is a display-referred sRGB
    picture. Any other suffix raises `SpecError`.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".exr":
        from stylelock.core.exr import read_exr

        part = read_exr(path).main
        try:
            rgb = part.rgb(layer)
        except SpecError:
            if not layer:
                raise
            rgb = part.rgb("")
        alpha = part.alpha(layer)
        model, _ = codec.encode(rgb, alpha)
        return model, alpha
    if suffix in DISPLAY_IMAGE_SUFFIXES:
        rgb, alpha = read_display_image(path)
        return codec.encode_display_image(rgb), alpha
    raise SpecError(f"style reference {path} is not an EXR or a PNG/JPEG/TIFF image")
