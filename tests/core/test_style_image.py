"""Style references on disk: display pictures through OpenImageIO, EXR paint-overs, bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stylelock.core.colour import ModelSpaceCodec, resolve_config
from stylelock.core.errors import CorruptFrameError, SpecError
from stylelock.core.style_image import DISPLAY_IMAGE_SUFFIXES, decode_style_image, read_display_image


def test_read_display_image_scales_code_values_and_splits_alpha(tmp_path: Path) -> None:
    bgra = np.zeros((6, 10, 4), np.uint8)
    bgra[..., 2] = 255  # red
    bgra[..., 3] = 255
    bgra[:, 0, 3] = 51  # alpha 0.2 in the first column
    path = tmp_path / "look.png"
    cv2.imwrite(str(path), bgra)
    rgb, alpha = read_display_image(str(path))
    assert rgb.shape == (6, 10, 3) and rgb.dtype == np.float32
    assert np.allclose(rgb[:, 1:, 0], 1.0) and np.allclose(rgb[..., 1:], 0.0)
    assert alpha is not None and np.allclose(alpha[:, 0], 0.2) and np.allclose(alpha[:, 1:], 1.0)


def test_read_display_image_repeats_a_grey_picture(tmp_path: Path) -> None:
    grey = np.tile(np.arange(0, 250, 25, dtype=np.uint8), (4, 1))
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), grey)
    rgb, alpha = read_display_image(str(path))
    assert alpha is None
    assert np.allclose(rgb, (grey / 255.0)[..., None].repeat(3, axis=2), atol=1e-6)


def test_bad_style_references_raise_one_line_errors(tmp_path: Path) -> None:
    codec = ModelSpaceCodec(resolve_config(None), None, "srgb")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert ".png" in DISPLAY_IMAGE_SUFFIXES
    with pytest.raises(CorruptFrameError, match=f"style reference {broken} cannot be decoded"):
        decode_style_image(str(broken), codec)
    with pytest.raises(SpecError, match="is not an EXR or a PNG/JPEG/TIFF image"):
        decode_style_image(str(tmp_path / "look.gif"), codec)
