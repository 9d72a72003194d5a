"""Plate frames on their way into and out of an engine.

`FrameCodec` turns a decoded EXR into the engine's `ModelFrame` (colour-encoded RGB, alpha, every
other channel as a guide, resized to proxy resolution) and turns a styled frame back into a
complete EXR whose untouched channels are the plate's own arrays, bit for bit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylelock.core.colour import EncodeState, ModelSpaceCodec
from stylelock.core.errors import CorruptFrameError, FramesMissingError, PlateMismatchError
from stylelock.core.exr import ExrImage, ExrPart, read_exr, set_rgb
from stylelock.core.exr.limits import DecodeLimits
from stylelock.core.jobspec import StyleReference
from stylelock.core.style_image import decode_style_image
from stylelock.server.engines.base import ModelFrame, StyleFrame


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-averaged downscale or cubic upscale of an (h, w) or (h, w, c) float32 image."""
    import cv2

    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrinking = width < image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interpolation)


def layer_channels(layer: str) -> tuple[str, str, str, str]:
    prefix = f"{layer}." if layer else ""
    return (f"{prefix}R", f"{prefix}G", f"{prefix}B", f"{prefix}A")


@dataclass
class DecodedFrame:
    """A plate frame between reading and writing: the file, its engine view and what decode needs."""

    number: int
    image: ExrImage
    model: ModelFrame
    state: EncodeState
    model_full: np.ndarray
    """The encoded frame at plate resolution (the same array as `model.rgb` without proxy)."""


class FrameCodec:
    """Converts plate frames to engine frames and styled frames back to EXR images."""

    def __init__(
        self,
        codec: ModelSpaceCodec,
        *,
        layer: str = "",
        proxy: float = 1.0,
        limits: DecodeLimits | None = None,
    ) -> None:
        self.codec = codec
        self.limits = limits
        """A server's limits on what a frame's header may ask (checked before pixels are allocated)."""
        self.layer = layer
        self.proxy = proxy
        self.expected_size: tuple[int, int] | None = None

    def engine_size(self, width: int, height: int) -> tuple[int, int]:
        if self.proxy >= 1.0:
            return width, height
        return max(8, round(width * self.proxy)), max(8, round(height * self.proxy))

    def decode_file(self, number: int, path: str) -> DecodedFrame:
        image = read_exr(path, self.limits)
        part = image.main
        size = (part.data_window.width, part.data_window.height)
        if self.expected_size is None:
            self.expected_size = size
        elif size != self.expected_size:
            raise PlateMismatchError(
                f"frame {number} ({path}) is {size[0]}x{size[1]} but the plate's first frame is "
                f"{self.expected_size[0]}x{self.expected_size[1]}"
            )
        rgb = part.rgb(self.layer)
        alpha = part.alpha(self.layer)
        model_rgb, state = self.codec.encode(rgb, alpha)
        model = self._model_frame(number, image, part, model_rgb, alpha)
        return DecodedFrame(number, image, model, state, model_full=model_rgb)

    def _model_frame(
        self, number: int, image: ExrImage, part: ExrPart, model_rgb: np.ndarray, alpha: np.ndarray | None
    ) -> ModelFrame:
        own = set(layer_channels(self.layer))
        aovs = {name: part.channel_float(name) for name in part.channels if name not in own}
        aovs.update(image.channels_beside(part))
        width, height = self.engine_size(model_rgb.shape[1], model_rgb.shape[0])
        if (width, height) != (model_rgb.shape[1], model_rgb.shape[0]):
            model_rgb = np.clip(resize(model_rgb, width, height), 0.0, 1.0)
            alpha = None if alpha is None else np.clip(resize(alpha, width, height), 0.0, 1.0)
            aovs = {name: resize(values, width, height) for name, values in aovs.items()}
        scale = width / part.data_window.width
        return ModelFrame(number=number, rgb=model_rgb, alpha=alpha, aovs=aovs, scale=scale)

    def encode_result(
        self, frame: DecodedFrame, styled: np.ndarray, mask: np.ndarray | None = None
    ) -> ExrImage:
        """The plate frame's EXR with its RGB replaced by the styled frame, everything else as read."""
        part = frame.image.main
        full_w, full_h = part.data_window.width, part.data_window.height
        styled = np.asarray(styled, dtype=np.float32)
        if styled.shape[:2] != (full_h, full_w):
            styled = np.clip(resize(styled, full_w, full_h), 0.0, 1.0)
        if mask is not None:
            original = frame.model_full
            weight = mask[..., None]
            styled = np.where(weight >= 1.0, styled, original + weight * (styled - original))
        rgb = self.codec.decode(styled, frame.state)
        set_rgb(part, rgb, self.layer)
        return frame.image


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise FramesMissingError(f"style reference {path} does not exist") from None
    except OSError as exc:
        raise CorruptFrameError(f"style reference {path} cannot be read: {exc.strerror}") from None
    return digest.hexdigest()[:16]


def load_style(
    reference: StyleReference, codec: FrameCodec, plate_size: tuple[int, int], digest: str
) -> StyleFrame:
    """Decode a style reference into model space at engine resolution.

    EXR references are in the plate's colour space (a paint-over done in the comp); PNG/JPEG/TIFF
    references are display-referred sRGB pictures. A paint-over must match the plate's size.
    """
    model, alpha = decode_style_image(reference.path, codec.codec, codec.layer)
    height, width = model.shape[:2]
    if reference.frame is not None:
        if (width, height) != plate_size:
            raise PlateMismatchError(
                f"painted keyframe {reference.frame} ({reference.path}) is {width}x{height} but the "
                f"plate is {plate_size[0]}x{plate_size[1]}"
            )
        engine_w, engine_h = codec.engine_size(width, height)
        model = np.clip(resize(model, engine_w, engine_h), 0.0, 1.0)
        if alpha is not None:
            alpha = np.clip(resize(alpha, engine_w, engine_h), 0.0, 1.0)
    return StyleFrame(rgb=model, alpha=alpha, frame=reference.frame, digest=digest)
