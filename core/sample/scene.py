"""The synthetic scene behind `stylelock sample`: one frame as numpy channels, no I/O.

A 2.5D scene of flat layers at known depths, seen by a camera that trucks right, tilts slightly and
zooms in: a cloudy sky with a sun, two ranges of hills and three foreground objects (a checkered
board, a striped ball that rolls and a translucent leaf) that cross and occlude one another. Every
layer is an affine image of its own texture, so the true motion of every pixel is known exactly
and is written as Nuke motion vectors, and the depth channel is the depth each layer is projected
with (parallax and depth agree).

Units: "screen units" are fractions of the display height measured from the display centre, so
the scene looks the same at every resolution. Frame 1001 is t = 0; a frame's content depends only
on its number and the size, never on which range is rendered.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

T0 = 1001
#: Overscan on each side as a fraction of the display size (data window larger than display).
OVERSCAN = 0.05
#: Channels of a sample frame, in the order they are written.
CHANNELS = (
    "R",
    "G",
    "B",
    "A",
    "depth.Z",
    "forward.u",
    "forward.v",
    "backward.u",
    "backward.v",
)

_TEX = 256  # side of the tileable noise textures


def windows(width: int, height: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Return ``(data, display)`` windows as ``(x, y, width, height)``; the data window has overscan."""
    ox, oy = round(OVERSCAN * width), round(OVERSCAN * height)
    return (-ox, -oy, width + 2 * ox, height + 2 * oy), (0, 0, width, height)


@functools.lru_cache(maxsize=64)
def _fbm(seed: int, blur: float, beta: float = 1.8) -> np.ndarray:
    """A tileable fractal noise texture in [0, 1] (spectral synthesis: white noise shaped by 1/f^beta).

    `blur` is a Gaussian prefilter in texels, applied in the spectrum (so the texture stays
    tileable): it keeps texture detail above the pixel grid's Nyquist limit, as a lens would.
    """
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((_TEX, _TEX))
    fy = np.fft.fftfreq(_TEX)[:, None]
    fx = np.fft.rfftfreq(_TEX)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    spectrum = np.fft.rfft2(white) / radius**beta
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(_TEX, _TEX))
    field = (field - field.mean()) / (field.std() * 4.0) + 0.5
    if blur > 0:
        lowpass = np.exp(-2.0 * (np.pi * blur * radius) ** 2)
        lowpass[0, 0] = 1.0
        field = np.fft.irfft2(np.fft.rfft2(field) * lowpass, s=(_TEX, _TEX))
    return np.clip(field, 0.0, 1.0).astype(np.float32)


def _noise(seed: int, lx: np.ndarray, ly: np.ndarray, fx: float, fy: float, lines: int) -> np.ndarray:
    """Noise at layer coordinates, `fx`/`fy` texels per screen unit, prefiltered for `lines` lines."""
    # Prefilter of 0.7 pixel (at the zoom of frame 1001), in texels; rounded so the cache stays small.
    blur = round(0.7 * max(fx, fy) / lines, 2)
    return _sample(_fbm(seed, blur), lx * fx, ly * fy)


def _sample(tex: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a tileable texture at texel coordinates (wraps around)."""
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    ix0 = x0.astype(np.int64) % _TEX
    iy0 = y0.astype(np.int64) % _TEX
    ix1 = (ix0 + 1) % _TEX
    iy1 = (iy0 + 1) % _TEX
    top = tex[iy0, ix0] * (1 - fx) + tex[iy0, ix1] * fx
    bottom = tex[iy1, ix0] * (1 - fx) + tex[iy1, ix1] * fx
    return top * (1 - fy) + bottom * fy


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _mix(a: tuple[float, float, float], b: tuple[float, float, float], t: np.ndarray) -> np.ndarray:
    a_ = np.asarray(a, np.float32)
    b_ = np.asarray(b, np.float32)
    return a_ + (b_ - a_) * t[..., None]


# -- camera and layers ---------------------------------------------------------------------------


def _camera(t: float) -> tuple[float, float, float]:
    """Camera position (world x, y; y down) and zoom at time t: a slow truck right, tilt up, push in."""
    return 0.016 * t, -0.0025 * t, 1.0 + 0.003 * t


@dataclass(frozen=True)
class _Layer:
    """A flat layer at `depth`; `pose(t)` gives its own centre (screen units at t=0) and rotation."""

    name: str
    depth: float
    pose: Callable[[float], tuple[float, float, float]]
    shade: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray | None]]

    def affine(self, t: float, width: int, height: int) -> np.ndarray:
        """2x3 matrix taking layer-local coordinates to pixel centres of frame t."""
        cx, cy, zoom = _camera(t)
        px, py, angle = self.pose(t)
        c, s = math.cos(angle), math.sin(angle)
        k = height * zoom
        tx = k * (px - cx / self.depth) + width / 2.0
        ty = k * (py - cy / self.depth) + height / 2.0
        return np.array([[k * c, -k * s, tx], [k * s, k * c, ty]], dtype=np.float64)


_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _invert(m: np.ndarray) -> np.ndarray:
    a = m[:, :2]
    inv = np.linalg.inv(a)
    return np.hstack([inv, -inv @ m[:, 2:]])


def _compose(m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Affine ``m ∘ n`` (apply n first)."""
    return np.hstack([m[:, :2] @ n[:, :2], m[:, :2] @ n[:, 2:] + m[:, 2:]])


def _apply(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (
        (m[0, 0] * x + m[0, 1] * y + m[0, 2]).astype(np.float32),
        (m[1, 0] * x + m[1, 1] * y + m[1, 2]).astype(np.float32),
    )


# -- layer looks: each returns (colour (h,w,3) unpremultiplied, alpha, depth offset or None) ------------


def _shade_sky(lx: np.ndarray, ly: np.ndarray, t: float, px: float, lines: int):
    elevation = 0.12 - ly  # above the horizon line
    sky = _mix((0.62, 0.55, 0.45), (0.05, 0.10, 0.30), _smoothstep(-0.05, 0.65, elevation))
    clouds = _noise(11, lx, ly, 140.0, 260.0, lines)
    cover = _smoothstep(0.48, 0.72, clouds) * _smoothstep(-0.02, 0.25, elevation)
    colour = (
        sky * (1 - cover[..., None])
        + _mix((0.55, 0.55, 0.6), (1.1, 1.05, 1.0), clouds)[..., :] * (cover[..., None])
    )
    alpha = 0.45 + 0.55 * cover
    # The sun: a tiny core of thousands, a warm glow of tens, a wide haze; emissive, so added to the
    # premultiplied colour by the caller through alpha = 1 near the disc.
    r = np.hypot(lx + 0.62, ly + 0.30)
    glow = 3000.0 * np.exp(-((r / 0.008) ** 2)) + 40.0 * np.exp(-r / 0.012) + 1.2 * np.exp(-r / 0.12)
    sun = np.asarray((1.0, 0.86, 0.66), np.float32) * glow[..., None]
    near_sun = np.exp(-((r / 0.05) ** 2))
    alpha = np.maximum(alpha, near_sun)
    return colour + sun / np.maximum(alpha, 1e-3)[..., None], alpha, None


def _ridge(x: np.ndarray, terms: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    return sum(a * np.sin(f * x + p) for a, f, p in terms)


def _edge(signed_distance_px: np.ndarray, softness: float = 1.0) -> np.ndarray:
    """Coverage of a shape from its signed distance in pixels (negative inside), antialiased."""
    return np.clip(0.5 - signed_distance_px / softness, 0.0, 1.0)


def _shade_far_hills(lx: np.ndarray, ly: np.ndarray, t: float, px: float, lines: int):
    top = 0.06 + _ridge(lx, ((0.05, 3.1, 0.4), (0.025, 7.3, 1.9), (0.01, 17.0, 0.3)))
    alpha = _edge((top - ly) * px)
    noise = _noise(23, lx, ly, 300.0, 300.0, lines)
    depth_cue = _smoothstep(0.0, 0.4, ly - top)
    colour = _mix((0.11, 0.14, 0.19), (0.05, 0.08, 0.08), depth_cue) * (0.7 + 0.6 * noise)[..., None]
    return colour, alpha, None


def _shade_ground(lx: np.ndarray, ly: np.ndarray, t: float, px: float, lines: int):
    top = 0.24 + _ridge(lx, ((0.04, 2.3, 2.0), (0.015, 6.1, 0.7), (0.006, 21.0, 1.1)))
    alpha = _edge((top - ly) * px)
    noise = _noise(37, lx, ly, 220.0, 220.0, lines)
    rows = 0.5 + 0.5 * np.sin(2 * np.pi * (lx * 9.0 + (ly - top) * 22.0) + 3.0 * noise)
    colour = _mix((0.05, 0.09, 0.02), (0.16, 0.20, 0.06), rows) * (0.75 + 0.5 * noise)[..., None]
    return colour, alpha, None


def _square_wave(x: np.ndarray, half_period: float, px: float) -> np.ndarray:
    """An antialiased +-1 square wave (edges ramp over about one pixel) of the given half period."""
    slope = 2.0 * half_period * px / np.pi
    return np.clip(np.sin(np.pi * x / half_period) * slope, -1.0, 1.0)


def _shade_board(lx: np.ndarray, ly: np.ndarray, t: float, px: float, lines: int):
    hw, hh = 0.16, 0.11
    dist = np.maximum(np.abs(lx) - hw, np.abs(ly) - hh)
    alpha = _edge(dist * px)
    cells = 0.5 + 0.5 * _square_wave(lx, 0.04, px) * _square_wave(ly, 0.04, px)
    grain = _noise(41, lx, ly, 400.0, 400.0, lines)
    colour = _mix((0.42, 0.06, 0.04), (0.68, 0.62, 0.50), cells) * (0.85 + 0.3 * grain)[..., None]
    light = 1.25 - 1.4 * (lx + ly) * 0.5  # brighter towards the sun (top left)
    bevel = 1.0 - 0.5 * _smoothstep(-0.012, 0.0, dist)
    colour = colour * (light * bevel)[..., None]
    return colour, alpha, None


_BALL_RADIUS = 0.11
_LIGHT = np.array([-0.5, -0.6, 0.62]) / np.linalg.norm([-0.5, -0.6, 0.62])


def _ball_pose(t: float) -> tuple[float, float, float]:
    return 0.20 - 0.008 * t, 0.0 + 0.003 * t, -0.03 * t


def _shade_ball(lx: np.ndarray, ly: np.ndarray, t: float, px: float, lines: int):
    # Texture coordinates roll with the ball; shading stays fixed to the light, as on a real ball.
    angle = _ball_pose(t)[2]
    c, s = math.cos(angle), math.sin(angle)
    sx, sy = c * lx - s * ly, s * lx + c * ly  # unrotated disc coordinates
    rho2 = (sx * sx + sy * sy) / (_BALL_RADIUS * _BALL_RADIUS)
    alpha = _edge((np.sqrt(rho2) - 1.0) * _BALL_RADIUS * px)
    nz = np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))
    nx, ny = sx / _BALL_RADIUS, sy / _BALL_RADIUS
    lambert = np.clip(nx * _LIGHT[0] + ny * _LIGHT[1] + nz * _LIGHT[2], 0.0, 1.0)
    reflect_z = 2.0 * lambert * nz - _LIGHT[2]  # mirror of the light, seen from the camera (+z)
    spec = 180.0 * np.clip(reflect_z, 0.0, 1.0) ** 120
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (lx * 0.8 + ly) * 9.0)
    albedo = _mix((0.03, 0.10, 0.35), (0.55, 0.52, 0.45), _smoothstep(0.3, 0.7, stripes))
    colour = albedo * (0.06 + 1.3 * lambert)[..., None] + spec[..., None].astype(np.float32)
    return colour, alpha, -nz * _BALL_RADIUS  # the ball's front bulges towards the camera


def _shade_leaf(lx: np.ndarray, ly: np.ndarray, t: float, px: float, lines: int):
    a, b = 0.085, 0.20
    r = np.sqrt((lx / a) ** 2 + (ly / b) ** 2)
    alpha = 0.85 * _edge((r - 1.0) * a * px, softness=3.0)
    along = np.clip(0.5 - ly / (2 * b), 0.0, 1.0)
    colour = _mix((0.75, 0.42, 0.03), (0.30, 0.45, 0.04), along)
    veins = np.abs(np.sin(2 * np.pi * (ly * 6.0 + np.abs(lx) * 9.0)))
    noise = _noise(53, lx, ly, 350.0, 350.0, lines)
    colour = colour * (0.75 + 0.25 * veins + 0.3 * (noise - 0.5))[..., None]
    midrib = _edge((np.abs(lx) - 0.003) * px)
    colour = colour * (1.0 - 0.6 * midrib)[..., None]
    return colour, alpha, None


_LAYERS = (
    _Layer("sky", 40.0, lambda t: (0.0, 0.0, 0.0), _shade_sky),
    _Layer("far_hills", 12.0, lambda t: (0.0, 0.0, 0.0), _shade_far_hills),
    _Layer("ground", 5.0, lambda t: (0.0, 0.0, 0.0), _shade_ground),
    _Layer("board", 3.0, lambda t: (-0.15 + 0.008 * t, 0.08, 0.2 + 0.012 * t), _shade_board),
    _Layer("ball", 2.2, _ball_pose, _shade_ball),
    _Layer("leaf", 1.4, lambda t: (0.14 + 0.005 * t, -0.18 + 0.007 * t, 0.5 - 0.025 * t), _shade_leaf),
)


def render_sample_frame(frame: int, width: int = 480, height: int = 270) -> dict[str, np.ndarray]:
    """Render one frame of the sample plate over its data window (display size + overscan).

    Returns float32 arrays of shape (data height, data width) for every name in `CHANNELS`: RGB
    premultiplied by A (scene-linear, ACEScg-like), ``depth.Z`` (camera distance of the front
    surface), and motion vectors in pixels, Nuke's convention: ``forward`` is the displacement of
    the surface seen at a pixel towards frame+1, ``backward`` towards frame-1, ``u`` to the right
    and ``v`` UP (so the image-row displacement is ``-v``). Vectors and depth belong to the front-most
    layer whose alpha is at least 0.5.
    """
    if width < 16 or height < 16:
        raise ValueError(f"sample frame size {width}x{height} is below 16x16")
    (dx, dy, dw, dh), _ = windows(width, height)
    t = float(frame - T0)
    xs = np.arange(dx, dx + dw, dtype=np.float64)[None, :]
    ys = np.arange(dy, dy + dh, dtype=np.float64)[:, None]
    gx = np.broadcast_to(xs, (dh, dw))
    gy = np.broadcast_to(ys, (dh, dw))
    rgb = np.zeros((dh, dw, 3), np.float32)
    alpha = np.zeros((dh, dw), np.float32)
    depth = np.zeros((dh, dw), np.float32)
    vectors = np.zeros((4, dh, dw), np.float32)
    for layer in _LAYERS:
        now = layer.affine(t, width, height)
        to_local = _invert(now)
        lx, ly = _apply(to_local, gx, gy)
        px_per_unit = height * _camera(t)[2]
        colour, cover, bulge = layer.shade(lx, ly, t, px_per_unit, height)
        cover = cover.astype(np.float32)
        premult = colour.astype(np.float32) * cover[..., None]
        rgb = premult + rgb * (1.0 - cover)[..., None]
        alpha = cover + alpha * (1.0 - cover)
        front = cover >= 0.5 if layer.name != "sky" else np.ones_like(cover, bool)
        z = layer.depth if bulge is None else layer.depth * (1.0 + bulge)
        depth = np.where(front, z, depth)
        for i, step in enumerate((1.0, -1.0)):
            # Displacement = (where the same local point lands at t+step) - (where it is now).
            shift = _compose(layer.affine(t + step, width, height), to_local) - _IDENTITY
            du, dv = _apply(shift, gx, gy)
            vectors[2 * i] = np.where(front, du, vectors[2 * i])
            vectors[2 * i + 1] = np.where(front, -dv, vectors[2 * i + 1])  # Nuke: v points up
    return {
        "R": np.ascontiguousarray(rgb[..., 0]),
        "G": np.ascontiguousarray(rgb[..., 1]),
        "B": np.ascontiguousarray(rgb[..., 2]),
        "A": alpha,
        "depth.Z": depth,
        "forward.u": vectors[0],
        "forward.v": vectors[1],
        "backward.u": vectors[2],
        "backward.v": vectors[3],
    }
