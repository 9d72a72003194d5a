"""A second test plate with photographic texture: two photos as layers, a moving camera, grain.

The sample plate (`stylelock.core.sample.scene`) is procedural: smooth gradients, flat shapes. Real
plates are textured everywhere and grainy. This one is made from two photographs that ship with
scikit-image (the left view of `stereo_motorcycle`, a garage scene, as the background; `chelsea`, a
cat, cut out with a soft oval matte as a foreground card): the camera pans, zooms and rolls across
the garage while the card flies over it fast (about 15 px a frame at 640x360), turning, so it
uncovers and covers textured background every frame. Every layer is an affine image of its photo, so
the true motion of every pixel is known: it is written as Nuke `forward`/`backward` vectors (the
front layer's where the card covers more than half the pixel). Grain (about 1 % of the signal, per
frame, seeded by the frame number) is added after the vectors, as a camera would.

Colour: the photos are sRGB; they are converted into the plate's scene-linear space (the bundled
config's `scene_linear` role) through the server's own codec, so the engine's model space shows
the photos as they are. No overscan: the data window is the display window, as most live-action
plates have.

    python bench/photo_plate.py FOLDER [--frames 1001-1024] [--size 640x360]

Needs scikit-image (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
from pathlib import Path

import numpy as np

from stylelock.core.sample import SAMPLE_ATTRIBUTES
from stylelock.core.sample.scene import CHANNELS
from stylelock.core.sequence import FramePattern, parse_frames
from stylelock.server.cli.sample import parse_size

FIRST = 1001
#: Grain standard deviation, as a fraction of the square root of the linear signal.
GRAIN = 0.012
ATTRIBUTES = {
    "stylelock:sample": "photo plate v1 (bench/photo_plate.py, scikit-image photos)",
    "stylelock:vectors": SAMPLE_ATTRIBUTES["stylelock:vectors"],
}


@functools.lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    garage = data.stereo_motorcycle()[0]  # the left view of a stereo pair
    return garage.astype(np.float32) / 255.0, data.chelsea().astype(np.float32) / 255.0


Point = tuple[float, float]


def _affine(scale: float, angle: float, centre: Point, anchor: Point) -> np.ndarray:
    """3x3 map from photo pixels to plate pixels: photo point `anchor` lands on plate point
    `centre`, scaled by `scale` and turned by `angle` (radians) around it."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    ax, ay = anchor
    return np.array(
        [[c, -s, centre[0] - c * ax + s * ay], [s, c, centre[1] - s * ax - c * ay], [0.0, 0.0, 1.0]]
    )


def _camera(t: float, width: int, height: int) -> np.ndarray:
    """The garage photo on the plate at time t (frames from the first): pan, slow zoom, slight roll."""
    k = height / 360.0
    return _affine(
        k * (1.0 + 0.004 * t), 0.002 * t, (width / 2, height / 2), (330.0 + 3.0 * t, 250.0 - 1.0 * t)
    )


def _card(t: float, width: int, height: int) -> np.ndarray:
    """The cat card at time t: flies left to right, bobbing and turning."""
    k = height / 360.0
    centre = (width * (0.15 + 0.03 * t), height * (0.55 + 0.06 * math.sin(0.3 * t)))
    return _affine(0.55 * k, 0.012 * t - 0.1, centre, (225.0, 150.0))


def _flow(m_now: np.ndarray, m_other: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Where the plate point at (xs, ys) now is in the other frame, minus where it is now."""
    step = m_other @ np.linalg.inv(m_now)
    ox = step[0, 0] * xs + step[0, 1] * ys + step[0, 2]
    oy = step[1, 0] * xs + step[1, 1] * ys + step[1, 2]
    return np.stack([ox - xs, oy - ys], axis=-1).astype(np.float32)


def _render(photo: np.ndarray, m: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    scale = math.sqrt(abs(np.linalg.det(m[:2, :2])))
    if scale < 1.0:  # prefilter before shrinking, as a lens and a sensor would
        photo = cv2.GaussianBlur(photo, (0, 0), 0.5 / scale)
    return cv2.warpAffine(
        photo, m[:2], (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101
    )


@functools.lru_cache(maxsize=1)
def _matte(shape: tuple[int, int]) -> np.ndarray:
    """A soft oval cut-out of the cat photo (1 inside, 0 outside, 2 px ramp)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xs - 225.0) / 170.0) ** 2 + ((ys - 150.0) / 135.0) ** 2)
    return np.clip((1.0 - r) * 150.0 / 2.0 + 0.5, 0.0, 1.0).astype(np.float32)


def render_photo_frame(frame: int, width: int = 640, height: int = 360) -> dict[str, np.ndarray]:
    """One frame: display-referred sRGB `rgb` (h, w, 3), and the depth and vector channels."""
    import cv2

    garage, cat = _photos()
    t = float(frame - FIRST)
    cam, card = _camera(t, width, height), _card(t, width, height)
    back = _render(garage, cam, width, height)
    front = _render(cat, card, width, height)
    matte = cv2.warpAffine(_matte(cat.shape[:2]), card[:2], (width, height), flags=cv2.INTER_LINEAR)
    alpha = matte[..., None]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    on_card = alpha[..., 0] > 0.5
    channels: dict[str, np.ndarray] = {"rgb": front * alpha + back * (1.0 - alpha)}
    channels["depth.Z"] = np.where(on_card, 2.0, 10.0).astype(np.float32)
    for name, dt in (("forward", 1.0), ("backward", -1.0)):
        flow = np.where(
            on_card[..., None],
            _flow(card, _card(t + dt, width, height), xs, ys),
            _flow(cam, _camera(t + dt, width, height), xs, ys),
        )
        channels[f"{name}.u"] = flow[..., 0]
        channels[f"{name}.v"] = -flow[..., 1]  # Nuke's v points up
    return channels


def write_photo_plate(
    folder: str | os.PathLike[str], frames: str = "1001-1024", size=(640, 360), vectors: bool = True
) -> str:
    """Write the plate as `folder/plate.####.exr` (scene-linear, bundled config); return the pattern.

    ``vectors=False`` leaves out the vector and depth channels: a plate as a camera delivers it."""
    from stylelock.core.colour import ModelSpaceCodec, resolve_config
    from stylelock.core.exr import ExrImage, ExrPart, Window, write_exr

    width, height = size
    Path(folder).mkdir(parents=True, exist_ok=True)
    pattern = FramePattern.parse(os.path.join(os.fspath(folder), "plate.####.exr"))
    codec = ModelSpaceCodec(resolve_config(None))
    _, blank = codec.encode(np.zeros((height, width, 3), np.float32), None)
    for frame in parse_frames(frames):
        channels = render_photo_frame(frame, width, height)
        linear = codec.decode(np.clip(channels.pop("rgb"), 0.0, 1.0), blank)
        rng = np.random.default_rng(frame)
        grain = rng.standard_normal(linear.shape).astype(np.float32)
        linear = linear + GRAIN * grain * np.sqrt(np.maximum(linear, 0.0))
        pixels = {c: linear[..., i].astype(np.float16) for i, c in enumerate("RGB")}
        pixels["A"] = np.ones((height, width), np.float16)
        if vectors:
            pixels.update({name: np.asarray(plane, np.float32) for name, plane in channels.items()})
        window = Window(0, 0, width, height)
        part = ExrPart(
            channels=[c for c in CHANNELS if c in pixels],
            pixels=pixels,
            data_window=window,
            display_window=window,
            pixel_aspect=1.0,
            compression="zip",
            tile_size=None,
            attributes={**ATTRIBUTES, "stylelock:frame": str(frame)},
        )
        write_exr(pattern.path(frame), ExrImage(parts=[part]))
    return pattern.pattern


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--frames", default=f"{FIRST}-{FIRST + 23}")
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args()
    width, height = parse_size(args.size)
    print(write_photo_plate(args.folder, args.frames, (width, height)))


if __name__ == "__main__":
    main()
