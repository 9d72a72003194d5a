"""Helpers that write unusual EXR plates straight through OpenImageIO, for any test to import.

They do not use `stylelock.core.exr.write_exr`, so tests of that writer stay independent of it.

    from exr_fixtures import write_test_exr, random_plate_channels, read_native, Attr
    write_test_exr(path, random_plate_channels(48, 64, seed=1),
                   data_window=(-8, -4, 64, 48), display_window=(0, 0, 48, 40),
                   pixel_aspect=2.0, compression="piz", tile=(16, 16),
                   attributes={"shot": "sh010", "camMatrix": Attr("matrix", tuple(range(16)))})
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import OpenImageIO as oiio

from stylelock.core.exr.rawheader import (
    RETYPE_SAFE_COMPRESSIONS,
    channels_of,
    read_raw_headers_of_file,
    retype_channels,
)

_FORMATS = {np.dtype(np.float16): "half", np.dtype(np.float32): "float", np.dtype(np.uint32): "uint"}
WindowLike = tuple[int, int, int, int]


@dataclass(frozen=True)
class Attr:
    """An attribute value with an explicit OIIO type name ("matrix", "timecode", "rational", ...)."""

    type: str
    value: Any


def cryptomatte_id(name: str) -> np.float32:
    """A Cryptomatte-style ID: a 32-bit hash of `name` viewed as float32, never NaN, Inf or denormal."""
    bits = int.from_bytes(hashlib.md5(name.encode()).digest()[:4], "little")
    exponent = (bits >> 23) & 0xFF
    if exponent in (0, 0xFF):
        bits ^= 1 << 23
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


def random_plate_channels(
    height: int, width: int, seed: int, *, colour_dtype: type = np.float16, with_uint: bool = True
) -> dict[str, np.ndarray]:
    """A plate's channels with the values that break naive pipelines, reproducible from `seed`.

    R, G, B: magnitudes from 1e-4 to 1e4 (log-uniform), about 5% negative; A: soft alpha with
    exact 0 and 1 regions; N.X/N.Y/N.Z: unit normals (both in `colour_dtype`); depth.Z: float32;
    crypto00.R/B: float32 Cryptomatte-style ID bit patterns, crypto00.G/A their coverage;
    id (when `with_uint`): uint32 object IDs, many above 2**24.
    """
    rng = np.random.default_rng(seed)
    shape = (height, width)
    out: dict[str, np.ndarray] = {}
    for name in ("R", "G", "B"):
        magnitude = 10.0 ** rng.uniform(-4.0, 4.0, shape)
        sign = np.where(rng.random(shape) < 0.05, -1.0, 1.0)
        out[name] = (magnitude * sign).astype(colour_dtype)
    ramp = np.linspace(-0.3, 1.3, width)[None, :] + 0.1 * rng.standard_normal(shape)
    out["A"] = np.clip(ramp, 0.0, 1.0).astype(colour_dtype)
    normal = rng.standard_normal((3, height, width))
    normal /= np.linalg.norm(normal, axis=0, keepdims=True)
    for axis, name in enumerate(("N.X", "N.Y", "N.Z")):
        out[name] = normal[axis].astype(colour_dtype)
    out["depth.Z"] = rng.uniform(1.0, 1000.0, shape).astype(np.float32)
    ids = np.array([cryptomatte_id(f"object{i}") for i in range(8)], dtype=np.float32)
    out["crypto00.R"] = ids[rng.integers(0, 8, shape)]
    out["crypto00.G"] = rng.random(shape).astype(np.float32)
    out["crypto00.B"] = ids[rng.integers(0, 8, shape)]
    out["crypto00.A"] = (1.0 - out["crypto00.G"]).astype(np.float32)
    if with_uint:
        uid = rng.integers(0, 2**32, shape, dtype=np.uint64).astype(np.uint32)
        uid[0, :4] = [0, 2**24 + 1, 2**32 - 1, 2**31 + 12345]
        out["id"] = uid
    return out


def _window(value: WindowLike | Any | None, default: WindowLike) -> WindowLike:
    if value is None:
        return default
    if hasattr(value, "width"):
        return (value.x, value.y, value.width, value.height)
    return tuple(value)  # type: ignore[return-value]


def _spec(
    channels: dict[str, np.ndarray],
    *,
    data_window: WindowLike | None = None,
    display_window: WindowLike | None = None,
    pixel_aspect: float = 1.0,
    compression: str = "zip",
    tile: tuple[int, int] | None = None,
    attributes: dict[str, Any] | None = None,
    name: str | None = None,
) -> tuple[oiio.ImageSpec, np.ndarray, list[str]]:
    names = list(channels)
    height, width = channels[names[0]].shape
    x, y, w, h = _window(data_window, (0, 0, width, height))
    assert (w, h) == (width, height), f"data window {w}x{h} does not match the arrays {width}x{height}"
    formats = [_FORMATS[channels[n].dtype] for n in names]
    mixed = len(set(formats)) > 1
    spec = oiio.ImageSpec(width, height, len(names), "float" if mixed else formats[0])
    spec.channelnames = tuple(names)
    if mixed:  # uint32 goes in as float bit patterns, retyped to UINT after writing
        spec.channelformats = tuple("float" if f == "uint" else f for f in formats)
    spec.x, spec.y = x, y
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = _window(display_window, (x, y, w, h))
    spec.attribute("compression", compression)
    spec.attribute("PixelAspectRatio", float(pixel_aspect))
    if tile:
        spec.tile_width, spec.tile_height = tile
    if name:
        spec.attribute("oiio:subimagename", name)
    for key, value in (attributes or {}).items():
        if isinstance(value, Attr):
            spec.attribute(key, oiio.TypeDesc(value.type), value.value)
        else:
            spec.attribute(key, value)
    buffer = np.empty((height, width, len(names)), np.float32 if mixed else channels[names[0]].dtype)
    for c, n in enumerate(names):
        buffer[..., c] = channels[n].view(np.float32) if mixed and formats[c] == "uint" else channels[n]
    uints = [n for n, f in zip(names, formats, strict=True) if mixed and f == "uint"]
    if uints and compression.split(":")[0] not in RETYPE_SAFE_COMPRESSIONS:
        raise ValueError(
            f"uint32 channels mixed with float ones cannot be written exactly with {compression}"
        )
    return spec, buffer, uints


def write_test_exr(
    path: str | os.PathLike[str],
    channels: dict[str, np.ndarray],
    *,
    data_window: WindowLike | None = None,
    display_window: WindowLike | None = None,
    pixel_aspect: float = 1.0,
    compression: str = "zip",
    tile: tuple[int, int] | None = None,
    attributes: dict[str, Any] | None = None,
    name: str | None = None,
    parts: list[dict[str, Any]] | None = None,
) -> str:
    """Write an EXR with OIIO directly; return its path.

    `channels` maps names to (h, w) arrays whose dtype (float16/float32/uint32) is the channel's
    type. Windows are (x, y, width, height) or Window; the display window defaults to the data
    window. `attributes` values are plain Python values or `Attr(type, value)`. `parts` adds more
    parts, each a dict of these same keyword arguments plus "channels" (multipart files must be all
    scanline or all tiled, an OIIO limit).
    """
    path = os.fspath(path)
    first = dict(
        channels=channels,
        data_window=data_window,
        display_window=display_window,
        pixel_aspect=pixel_aspect,
        compression=compression,
        tile=tile,
        attributes=attributes,
        name=name,
    )
    built = [_spec(**kwargs) for kwargs in [first, *(parts or [])]]
    out = oiio.ImageOutput.create(path)
    specs = [b[0] for b in built]
    assert out.open(path, specs) if len(specs) > 1 else out.open(path, specs[0]), out.geterror()
    for index, (spec, buffer, _) in enumerate(built):
        if index:
            assert out.open(path, spec, "AppendSubimage"), out.geterror()
        assert out.write_image(buffer), out.geterror()
    assert out.close(), out.geterror()
    retype = {i: dict.fromkeys(b[2], "uint") for i, b in enumerate(built) if b[2]}
    if retype:
        retype_channels(path, retype)
    return path


def read_native(path: str | os.PathLike[str]) -> list[dict[str, np.ndarray]]:
    """Every part's channels read one at a time in their native type with plain OIIO (no StyleLock)."""
    inp = oiio.ImageInput.open(os.fspath(path))
    assert inp is not None, oiio.geterror()
    parts = []
    index = 0
    while index == 0 or inp.seek_subimage(index, 0):
        spec = inp.spec()
        formats = spec.channelformats or [spec.format] * spec.nchannels
        parts.append(
            {
                n: inp.read_image(index, 0, c, c + 1, f)[..., 0]
                for c, (n, f) in enumerate(zip(spec.channelnames, formats, strict=True))
            }
        )
        index += 1
    inp.geterror()
    inp.close()
    return parts


def raw_headers(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """What each part's header really stores: {name: (EXR type name, raw bytes)}, plus "channels"
    decoded as {channel: pixel type}. Independent of OIIO's renaming."""
    headers = read_raw_headers_of_file(os.fspath(path))
    out = []
    for header in headers:
        entry: dict[str, Any] = {k: (a.type, a.value) for k, a in header.items()}
        entry["channels"] = {c.name: c.pixel_type for c in channels_of(header["channels"])}
        out.append(entry)
    return out


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality (NaN payloads and signed zeros included) of two same-dtype arrays."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    view = {2: np.uint16, 4: np.uint32}[a.dtype.itemsize]
    return bool(np.array_equal(np.ascontiguousarray(a).view(view), np.ascontiguousarray(b).view(view)))
