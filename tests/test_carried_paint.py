"""`bench/carried_paint.py`: the keyframe QC bench's reference, the paint carried by the motion alone.

It is only a fair reference if it is what it says: the keyframe's paint brought along the plate's
motion with one resampling from the keyframe (not one per frame, which would soften it frame after
frame), on the plate's vectors when it has them and on the engine's DIS flow when it has not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from exr_fixtures import write_test_exr
from tiny_models import texture

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from carried_paint import carry_paint  # noqa: E402 - bench/ is not a package

from stylelock.core.colour import ModelSpaceCodec, resolve_config  # noqa: E402
from stylelock.server.frames import FrameCodec  # noqa: E402

H, W = 96, 128


def _channels(rgb: np.ndarray, motion: float | np.ndarray | None) -> dict[str, np.ndarray]:
    """An RGBA EXR's channels, with Nuke's vectors for a motion of ``motion`` px a frame to the
    right (one value, or one per pixel)."""
    channels = {c: np.ascontiguousarray(rgb[..., i], dtype=np.float32) for i, c in enumerate("RGB")}
    channels["A"] = np.ones((H, W), np.float32)
    if motion is not None:
        right = np.broadcast_to(np.asarray(motion, np.float32), (H, W))
        channels["forward.u"], channels["backward.u"] = right.copy(), -right
        channels["forward.v"] = channels["backward.v"] = np.zeros((H, W), np.float32)
    return channels


def _carried(
    tmp_path: Path, plate_frames: list[np.ndarray], motions: list, seed: int = 7
) -> tuple[np.ndarray, list]:
    """Carry a fine random paint over the first of ``plate_frames`` (each frame's motion in
    ``motions``, see `_channels`); its model-space paint and outputs."""
    numbers = range(1001, 1001 + len(plate_frames))
    for number, rgb, motion in zip(numbers, plate_frames, motions, strict=True):
        write_test_exr(
            tmp_path / f"plate.{number}.exr",
            _channels(0.2 + 0.3 * rgb.mean(axis=-1, keepdims=True) + 0.1 * rgb, motion),
        )
    # 1 px detail everywhere, near grey: inside the model space's gamut, so the codec's round trip
    # returns the paint as carried (out of gamut it keeps the plate's own value instead)
    rng = np.random.default_rng(seed)
    paint = (
        0.1 + 0.5 * rng.random((H, W, 1), dtype=np.float32) + 0.05 * rng.random((H, W, 3), dtype=np.float32)
    )
    write_test_exr(tmp_path / "painted.1001.exr", _channels(paint, None))
    out = str(tmp_path / "out" / "styled.####.exr")
    frames = f"{numbers[0]}-{numbers[-1]}"
    carry_paint(str(tmp_path / "plate.####.exr"), str(tmp_path / "painted.1001.exr"), frames, out)
    codec = FrameCodec(ModelSpaceCodec(resolve_config(None)))
    model_paint = codec.decode_file(1001, str(tmp_path / "painted.1001.exr")).model.rgb
    outputs = [codec.decode_file(n, str(tmp_path / "out" / f"styled.{n}.exr")).model.rgb for n in numbers]
    return model_paint, outputs


def _shifted(image: np.ndarray, dx: float) -> np.ndarray:
    """``image`` moved ``dx`` px to the right, Lanczos-sampled."""
    xs, ys = np.meshgrid(np.arange(W, dtype=np.float32) - dx, np.arange(H, dtype=np.float32))
    return cv2.remap(image, xs, ys, cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE)


def test_the_paint_is_resampled_once_from_the_keyframe_along_the_vectors(tmp_path: Path) -> None:
    """Half a pixel a frame: four frames on, the paint has moved exactly two pixels, as crisp as
    painted; four half-pixel resamplings of the previous frame would have softened it."""
    plate = texture(H, W)
    paint, outputs = _carried(tmp_path, [plate] * 5, [0.5] * 5)  # the vectors alone drive the carry
    inner = (slice(4, -4), slice(8, -4))
    np.testing.assert_allclose(outputs[0], np.clip(paint, 0, 1), atol=1e-5)  # the keyframe is the paint
    np.testing.assert_allclose(outputs[1][inner], np.clip(_shifted(paint, 0.5), 0, 1)[inner], atol=1e-4)
    np.testing.assert_allclose(outputs[4][inner], paint[inner[0], 6:-6], atol=1e-4)
    chained = paint
    for _ in range(4):
        chained = _shifted(chained, 0.5)
    assert np.abs(chained[inner] - paint[inner[0], 6:-6]).mean() > 0.02  # what the test tells apart


def test_without_vectors_it_follows_the_engines_estimated_flow(tmp_path: Path) -> None:
    """A plate without vectors panning 2 px a frame: DIS finds the pan and the paint follows it."""
    wide = texture(H, W + 8)
    frames = [np.ascontiguousarray(wide[:, 8 - 2 * i : 8 - 2 * i + W]) for i in range(5)]
    paint, outputs = _carried(tmp_path, frames, [None] * 5)
    inner = (slice(8, -8), slice(16, -8))
    expected = paint[inner[0], 8:-16]  # four frames at 2 px: 8 px to the right
    assert np.abs(outputs[4][inner] - expected).mean() < 0.03
    unmoved = paint[inner]
    assert np.abs(unmoved - expected).mean() > 0.1  # a carry that stood still would fail


def test_uncovered_background_continues_its_own_layer(tmp_path: Path) -> None:
    """A square slides 4 px a frame over a still background (exact vectors). Background it uncovers
    takes the keyframe's paint at its own place (its layer did not move), not the positions the
    square carried there; the square itself takes its paint from where it was painted."""
    squares = []
    for i in range(3):
        square = np.zeros((H, W), bool)
        square[30:60, 40 + 4 * i : 60 + 4 * i] = True
        squares.append(square)
    still = np.full((H, W, 3), 0.3, np.float32)
    motions = [np.where(square, 4.0, 0.0) for square in squares]
    model_paint, outputs = _carried(tmp_path, [still] * 3, motions, seed=3)
    last = outputs[-1]
    rows = slice(34, 56)
    uncovered = slice(44, 48)  # under the square on 1002, uncovered on 1003
    np.testing.assert_allclose(last[rows, uncovered], model_paint[rows, uncovered], atol=1e-4)
    carried_by_the_square = model_paint[rows, 40:44]  # where the square's positions would point
    assert np.abs(last[rows, uncovered] - carried_by_the_square).mean() > 0.05
    np.testing.assert_allclose(last[rows, 52:64], model_paint[rows, 44:56], atol=1e-4)  # 8 px on


def test_a_broken_range_is_refused(tmp_path: Path) -> None:
    from stylelock.core.errors import SpecError

    with pytest.raises(SpecError, match="unbroken"):
        carry_paint(
            str(tmp_path / "plate.####.exr"),
            str(tmp_path / "p.exr"),
            "1001,1003",
            str(tmp_path / "o.####.exr"),
        )
