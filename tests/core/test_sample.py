"""The synthetic sample plate (rendered and written as EXR) and the demo's paint-over filter."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from stylelock.core.errors import OutputError, SpecError
from stylelock.core.exr import Window, read_exr
from stylelock.core.flow import flow_from_vectors, warp
from stylelock.core.paint import paint_keyframe
from stylelock.core.sample import SAMPLE_ATTRIBUTES, write_sample_plate
from stylelock.core.sample.scene import CHANNELS, render_sample_frame, windows
from stylelock.core.sequence import FramePattern, resolve_plate

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def rgba(channels: dict[str, np.ndarray]) -> np.ndarray:
    return np.dstack([channels[c] for c in ("R", "G", "B", "A")])


def display(rgb: np.ndarray) -> np.ndarray:
    """A rough display encoding (Reinhard + gamma) for tests that need a [0, 1] picture."""
    return (np.clip(rgb / (1.0 + rgb) * 1.4, 0.0, 1.0) ** (1 / 2.2)).astype(np.float32)


@pytest.fixture(scope="module")
def frame_480() -> dict[str, np.ndarray]:
    return render_sample_frame(1017)


@pytest.fixture(scope="module")
def pair_240() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return render_sample_frame(1012, 240, 135), render_sample_frame(1013, 240, 135)


# -- the rendered frame ------------------------------------------------------------------------


def test_windows_have_overscan() -> None:
    assert windows(480, 270) == ((-24, -14, 528, 298), (0, 0, 480, 270))
    data, display_window = windows(1920, 1080)
    assert data == (-96, -54, 2112, 1188) and display_window == (0, 0, 1920, 1080)


def test_frame_channels_shapes_and_speed(frame_480: dict[str, np.ndarray]) -> None:
    assert tuple(frame_480) == CHANNELS
    for name, array in frame_480.items():
        assert array.shape == (298, 528), name
        assert array.dtype == np.float32, name
        assert np.isfinite(array).all(), name
    render_sample_frame(1001)  # warm the texture cache
    start = time.perf_counter()
    render_sample_frame(1002)
    assert time.perf_counter() - start < 0.5  # ~0.13 s here; generous for a loaded machine


def test_scene_linear_levels_and_highlights(frame_480: dict[str, np.ndarray]) -> None:
    rgb = rgba(frame_480)[..., :3]
    luma = rgb @ LUMA
    assert 0.05 < float(np.median(luma)) < 0.5  # a normally exposed plate around mid grey
    assert float(rgb.max()) > 1000.0  # the sun's core
    assert float(rgb.max()) < 65504.0  # fits half float
    ball = (frame_480["depth.Z"] < 2.2) & (frame_480["depth.Z"] > 1.9)
    assert ball.sum() > 500
    assert 20.0 < float(luma[ball].max()) < 5000.0  # a specular highlight on the ball
    assert float(rgb.min()) >= 0.0


def test_alpha_is_soft_and_rgb_premultiplied(frame_480: dict[str, np.ndarray]) -> None:
    alpha = frame_480["A"]
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0
    partial = (alpha > 0.05) & (alpha < 0.95)
    assert partial.mean() > 0.2  # a semi-transparent sky, feathered and translucent objects
    assert (alpha > 0.999).mean() > 0.3  # opaque ground and objects
    # Premultiplied: away from the sun (emissive, top left) and its glow, colour never exceeds a
    # bright albedo times alpha.
    rgb = rgba(frame_480)[..., :3]
    right = (slice(None), slice(2 * rgb.shape[1] // 3, None))
    assert (rgb[right].max(axis=-1) <= 1.5 * alpha[right] + 1e-6).all()
    assert (alpha[right] < 0.9).mean() > 0.1


def test_deterministic_and_independent_of_render_order() -> None:
    first = render_sample_frame(1005, 96, 54)
    render_sample_frame(1017, 96, 54)
    again = render_sample_frame(1005, 96, 54)
    for name in CHANNELS:
        assert first[name].tobytes() == again[name].tobytes(), name
    assert not np.array_equal(first["R"], render_sample_frame(1006, 96, 54)["R"])


def test_depth_orders_layers_and_matches_parallax(frame_480: dict[str, np.ndarray]) -> None:
    depth = frame_480["depth.Z"]
    u = frame_480["forward.u"]
    # The static layers (sky, far hills, ground) move only with the camera: the nearer, the faster.
    speeds = [float(np.median(np.abs(u[np.isclose(depth, z)]))) for z in (40.0, 12.0, 5.0)]
    assert all(np.isclose(depth, z).sum() > 1000 for z in (40.0, 12.0, 5.0))
    assert speeds[0] < speeds[1] < speeds[2]
    # A camera that trucks and zooms moves a static point by u = k * x + c + b / Z exactly: the
    # vectors and the depth channel agree to a thousandth of a pixel.
    static = np.isin(depth, np.float32([40.0, 12.0, 5.0]))
    x = np.broadcast_to(np.arange(u.shape[1], dtype=np.float64), u.shape)[static]
    design = np.stack([x, np.ones_like(x), 1.0 / depth[static]], axis=1)
    coef, *_ = np.linalg.lstsq(design, u[static].astype(np.float64), rcond=None)
    assert np.abs(design @ coef - u[static]).max() < 1e-3
    assert coef[2] < -1.0  # trucking right moves near things left, by pixels
    assert float(depth.min()) >= 1.0 and float(depth.max()) <= 40.0


def test_motion_is_moderate_with_parallax(frame_480: dict[str, np.ndarray]) -> None:
    speed = np.hypot(frame_480["forward.u"], frame_480["forward.v"])
    assert float(speed.mean()) > 0.3 and float(speed.max()) < 8.0
    near = frame_480["depth.Z"] < 3.1
    far = frame_480["depth.Z"] > 10
    assert float(np.median(speed[near])) > 3 * float(np.median(speed[far]))


def test_vectors_are_exact_motion(pair_240: tuple[dict[str, np.ndarray], dict[str, np.ndarray]]) -> None:
    a, b = pair_240
    forward = flow_from_vectors(a, "forward")
    backward_b = flow_from_vectors(b, "backward")
    assert forward is not None and backward_b is not None
    # Round trip: following forward(t) then backward(t+1) returns home wherever nothing occludes.
    round_trip = np.hypot(*(forward + warp(backward_b, forward)).transpose(2, 0, 1))
    visible = round_trip < 0.05
    assert 0.9 < visible.mean() < 0.999  # mostly consistent, with real occlusions
    # Warping by the vectors matches the next frame better than no motion and better than the
    # vectors moved by half a pixel in any direction: they sit at the photometric optimum.
    pic_a, pic_b = display(rgba(a)[..., :3]), display(rgba(b)[..., :3])

    def error(src: np.ndarray, dst: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> float:
        return float(np.abs(warp(src, flow) - dst).mean(axis=-1)[mask].mean())

    everywhere = np.ones_like(visible)
    for src, dst, flow, mask in ((pic_b, pic_a, forward, visible), (pic_a, pic_b, backward_b, everywhere)):
        exact = error(src, dst, flow, mask)
        assert exact < 0.8 * error(src, dst, np.zeros_like(flow), mask)
        for shift in ((0.5, 0.0), (-0.5, 0.0), (0.0, 0.5), (0.0, -0.5)):
            assert exact < 0.8 * error(src, dst, flow + np.float32(shift), mask), shift


def test_vectors_scale_with_resolution() -> None:
    small = render_sample_frame(1003, 120, 68)
    large = render_sample_frame(1003, 240, 136)
    for name in ("forward.u", "backward.v"):
        ratio = np.median(np.abs(large[name])) / np.median(np.abs(small[name]))
        assert ratio == pytest.approx(2.0, rel=0.1), name


def test_render_rejects_tiny_sizes() -> None:
    with pytest.raises(ValueError, match="8x8"):
        render_sample_frame(1001, 8, 8)


# -- the written plate ------------------------------------------------------------------------


def test_written_plate_is_a_real_exr_sequence(tmp_path: Path) -> None:
    folder = tmp_path / "my shots" / "sh010.v001"
    pattern = write_sample_plate(folder, frames="1001-1003", width=64, height=36)
    assert pattern == str(folder / "plate.####.exr")
    plate = resolve_plate(pattern, "1001-1003")
    assert FramePattern.parse(pattern).existing_frames() == [1001, 1002, 1003]
    for frame, path in plate:
        part = read_exr(path).parts[0]
        assert sorted(part.channels) == sorted(CHANNELS)
        assert part.data_window == Window(-3, -2, 70, 40)
        assert part.display_window == Window(0, 0, 64, 36)
        assert part.pixel_aspect == 1.0
        assert part.compression == "zip"
        assert part.tile_size is None
        for name in ("R", "G", "B", "A"):
            assert part.pixels[name].dtype == np.float16, name
        for name in ("depth.Z", "forward.u", "forward.v", "backward.u", "backward.v"):
            assert part.pixels[name].dtype == np.float32, name
        expected = render_sample_frame(frame, 64, 36)
        for name in CHANNELS:
            dtype = part.pixels[name].dtype
            assert np.array_equal(part.pixels[name], expected[name].astype(dtype)), name
        for key, value in SAMPLE_ATTRIBUTES.items():
            assert part.attributes[key] == value
        assert part.attributes["stylelock:frame"] == str(frame)


def test_written_plate_is_byte_identical_whatever_the_range(tmp_path: Path) -> None:
    write_sample_plate(tmp_path / "a", frames=[1002, 1003], width=48, height=27)
    write_sample_plate(tmp_path / "b", frames="1001-1004", width=48, height=27)
    for frame in (1002, 1003):
        name = f"plate.{frame}.exr"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["plate.1002.exr", "plate.1003.exr"]


def test_highlights_survive_half_float(tmp_path: Path) -> None:
    pattern = write_sample_plate(tmp_path, frames=[1001], width=480, height=270)
    part = read_exr(FramePattern.parse(pattern).path(1001)).parts[0]
    rgb = np.dstack([part.pixels[c].astype(np.float32) for c in ("R", "G", "B")])
    assert float(rgb.max()) > 1000.0 and np.isfinite(rgb).all()
    assert 0.3 < float(np.mean((part.pixels["A"] > 0.01) & (part.pixels["A"] < 0.99))) < 0.8


def test_write_sample_plate_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="8x8"):
        write_sample_plate(tmp_path, frames=[1001], width=8, height=8)
    with pytest.raises(SpecError, match="not a frame range"):
        write_sample_plate(tmp_path, frames="soon")
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with pytest.raises(OutputError, match="file"):
        write_sample_plate(blocker / "plate", frames=[1001], width=32, height=18)
    assert list(tmp_path.iterdir()) == [blocker]


# -- the paint-over filter ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_frame() -> np.ndarray:
    channels = render_sample_frame(1001, 240, 135)
    return display(rgba(channels)[..., :3])[14:-14, 12:-12].copy()


def chroma_bins(image: np.ndarray, share: float = 0.9) -> int:
    """How many chromaticity bins cover `share` of the pixels (brightness does not count)."""
    chroma = image / (image.sum(axis=-1, keepdims=True) + 1e-3)
    q = np.clip((chroma[..., :2] * 50).astype(int), 0, 49)
    _, counts = np.unique(q[..., 0] * 50 + q[..., 1], return_counts=True)
    counts = np.sort(counts)[::-1]
    return int(np.searchsorted(np.cumsum(counts) / counts.sum(), share) + 1)


def gradient(image: np.ndarray) -> np.ndarray:
    luma = image @ LUMA
    return np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))


def edge_correlation(a: np.ndarray, b: np.ndarray, dx: int = 0, dy: int = 0) -> float:
    ga = cv2.GaussianBlur(a, (0, 0), 1.5)[10:-10, 10:-10]
    gb = cv2.GaussianBlur(np.roll(b, (dy, dx), axis=(0, 1)), (0, 0), 1.5)[10:-10, 10:-10]
    return float(np.corrcoef(ga.ravel(), gb.ravel())[0, 1])


def test_paint_shape_range_and_determinism(model_frame: np.ndarray) -> None:
    painted = paint_keyframe(model_frame)
    assert painted.shape == model_frame.shape and painted.dtype == np.float32
    assert float(painted.min()) >= 0.0 and float(painted.max()) <= 1.0
    assert painted.tobytes() == paint_keyframe(model_frame.copy()).tobytes()
    assert painted.tobytes() != paint_keyframe(model_frame, seed=7).tobytes()


def test_paint_is_clearly_stylised(model_frame: np.ndarray) -> None:
    painted = paint_keyframe(model_frame)
    # A posterised palette: far fewer distinct hues than the plate.
    assert chroma_bins(painted) <= chroma_bins(model_frame) * 0.6
    # Ink: where the plate has its strongest edges the painting is dark.
    g_in = gradient(model_frame)
    strong = g_in > np.percentile(g_in, 95)
    assert float((painted @ LUMA)[strong].mean()) < 0.5 * float((model_frame @ LUMA)[strong].mean())
    # Overall brightness stays in the same family.
    assert 0.6 < float((painted @ LUMA).mean()) / float((model_frame @ LUMA).mean()) < 1.4
    assert float(np.abs(painted - model_frame).mean()) > 0.05


def test_paint_keeps_the_structure_in_place(model_frame: np.ndarray) -> None:
    g_in, g_out = gradient(model_frame), gradient(paint_keyframe(model_frame))
    aligned = edge_correlation(g_in, g_out)
    assert aligned > 0.4
    for dx, dy in ((4, 0), (-4, 0), (0, 4), (0, -4), (8, 8)):
        assert aligned > edge_correlation(g_in, g_out, dx, dy), (dx, dy)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((32, 32), np.float32), np.zeros((32, 32, 4), np.float32), np.zeros((8, 8, 3), np.float32)],
)
def test_paint_rejects_bad_shapes(bad: np.ndarray) -> None:
    with pytest.raises(SpecError, match="shape"):
        paint_keyframe(bad)


def test_paint_rejects_nan() -> None:
    image = np.full((32, 32, 3), 0.5, np.float32)
    image[3, 3, 1] = np.nan
    with pytest.raises(SpecError, match="NaN"):
        paint_keyframe(image)
