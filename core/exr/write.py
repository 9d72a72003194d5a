"""Writing `ExrImage` atomically through OpenImageIO, every channel bit-exact in its native type."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stylelock.core.errors import OutputError, SpecError, StyleLockError
from stylelock.core.exr.attrs import (
    BOOKKEEPING_KEYS,
    FIELD_KEYS,
    NOT_WRITTEN,
    OIIO_COLORSPACE,
    apply_attributes,
    is_utf8,
    read_attributes,
)
from stylelock.core.exr.compression import compression_base, output_compression
from stylelock.core.exr.rawheader import RETYPE_SAFE_COMPRESSIONS, retype_channels
from stylelock.core.exr.read import _one_line
from stylelock.core.exr.types import FORMAT_OF_DTYPE, NATIVE_DTYPES, ExrImage, ExrPart

log = logging.getLogger(__name__)

#: Pixels are handed to OIIO in bands of rows of about this many bytes, so writing a 4K frame
#: needs a small staging buffer rather than a second copy of the frame.
BAND_BYTES = 64 << 20


#: Attributes not expected back from OIIO after a write: held in fields, or knowingly not written.
NOT_CHECKED = FIELD_KEYS | BOOKKEEPING_KEYS | NOT_WRITTEN | {OIIO_COLORSPACE}


class _WriteFailed(Exception):
    """An OIIO call returned failure; the message is OIIO's."""


@dataclass
class _PartPlan:
    """How one part goes to OIIO: its spec, the buffer type, and the channels to retype after."""

    part: ExrPart
    spec: Any
    buffer_dtype: np.dtype
    uint_as_float: list[str]
    """uint32 channels of a mixed part, written as FLOAT bit patterns and retyped to UINT after."""
    attributes: dict[str, Any]


def write_exr(
    path: str | os.PathLike[str],
    image: ExrImage,
    *,
    compression: str | None = None,
    extra_attributes: Mapping[str, Any] | None = None,
) -> None:
    """Write every part and channel of `image` to `path`, atomically.

    Each part keeps its channels in their native types, windows, pixel aspect, tiling, line order
    and attributes; `extra_attributes` (e.g. provenance under "stylelock:*" keys) are added to every
    part. The compression of each part is `output_compression(part.compression, compression)`.
    The file is written to a temporary ".<name>.<pid>.<random>.tmp" beside `path`, flushed to disk
    and renamed over `path`; on any failure the temporary file is removed, an existing `path` is
    left untouched and OutputError names the path and the reason. A missing folder is created.
    """
    path = os.fspath(path)
    extra = dict(extra_attributes or {})
    try:
        plans = [
            _plan_part(index, part, image, compression, extra, path) for index, part in enumerate(image.parts)
        ]
        if not plans:
            raise ValueError("the image has no parts")
    except (ValueError, SpecError) as exc:
        raise OutputError(f"cannot write {path}: {exc}") from None
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: cannot create folder {folder}: {exc.strerror}") from None
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: it is a folder")
    temp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        _write_file(temp, plans)
        _fsync(temp)
        os.replace(temp, path)
        _fsync_folder(folder)
    except BaseException as exc:
        _remove(temp)
        if isinstance(exc, StyleLockError) or not isinstance(exc, Exception):
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutputError(f"cannot write {path}: {_one_line(reason)}") from exc
    log.debug("wrote %s: %d part(s)", path, len(plans))


def _plan_part(
    index: int, part: ExrPart, image: ExrImage, requested: str | None, extra: dict[str, Any], path: str
) -> _PartPlan:
    import OpenImageIO as oiio

    where = f"part {index}"
    formats = _check_pixels(part, where)
    compression = output_compression(part.compression, requested)
    mixed = len(set(formats)) > 1
    uint_as_float = [n for n, f in zip(part.channels, formats, strict=True) if mixed and f == "uint"]
    if uint_as_float and compression_base(compression) not in RETYPE_SAFE_COMPRESSIONS:
        log.warning(
            "%s %s: uint32 channels (%s) mixed with float channels stay exact only with %s, not %r; "
            "writing this part with zip",
            path,
            where,
            ", ".join(uint_as_float),
            "/".join(sorted(RETYPE_SAFE_COMPRESSIONS)),
            compression,
        )
        compression = "zip"
    buffer_format = formats[0] if not mixed else "float"
    spec = oiio.ImageSpec(part.width, part.height, len(part.channels), oiio.TypeDesc(buffer_format))
    spec.channelnames = tuple(part.channels)
    if mixed:
        spec.channelformats = tuple(oiio.TypeDesc("float" if f == "uint" else f) for f in formats)
    spec.x, spec.y = part.data_window.x, part.data_window.y
    display = part.display_window
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = (
        display.x,
        display.y,
        display.width,
        display.height,
    )
    if part.tile_size is not None:
        spec.tile_width, spec.tile_height, spec.tile_depth = part.tile_size[0], part.tile_size[1], 1
    attributes = {**part.attributes, **extra}
    apply_attributes(spec, attributes, part.attribute_types, f"{path} {where}")
    spec.attribute("compression", compression)
    spec.attribute("PixelAspectRatio", float(part.pixel_aspect))
    name = part.name or (f"part{index}" if len(image.parts) > 1 else None)
    if name:
        spec.attribute("oiio:subimagename", name)
    dtype = np.dtype(np.float32) if mixed else NATIVE_DTYPES[buffer_format]
    return _PartPlan(part, spec, dtype, uint_as_float, attributes)


def _check_pixels(part: ExrPart, where: str) -> list[str]:
    """The native type of every channel; ValueError naming what does not fit the part."""
    if not part.channels:
        raise ValueError(f"{where} has no channels")
    if len(set(part.channels)) != len(part.channels):
        raise ValueError(f"{where} names a channel twice: {', '.join(part.channels)}")
    window = part.data_window
    if window.width < 1 or window.height < 1:
        raise ValueError(f"{where} has an empty data window {window.width}x{window.height}")
    formats = []
    for name in part.channels:
        values = part.pixels.get(name)
        if values is None:
            raise ValueError(f"{where} lists channel {name!r} but has no pixels for it")
        if values.shape != (window.height, window.width):
            raise ValueError(
                f"{where} channel {name!r} has shape {values.shape}, the data window is "
                f"{window.width}x{window.height} (expected ({window.height}, {window.width}))"
            )
        if values.dtype not in FORMAT_OF_DTYPE:
            raise ValueError(
                f"{where} channel {name!r} is {values.dtype}; EXR holds float16, float32 or uint32"
            )
        formats.append(FORMAT_OF_DTYPE[values.dtype])
    return formats


def _write_file(temp: str, plans: list[_PartPlan]) -> None:
    import OpenImageIO as oiio

    out = oiio.ImageOutput.create("openexr")
    if out is None:
        raise _WriteFailed(oiio.geterror() or "OpenImageIO has no OpenEXR writer")
    specs = [plan.spec for plan in plans]
    opened = out.open(temp, specs) if len(specs) > 1 else out.open(temp, specs[0])
    if not opened:
        raise _WriteFailed(out.geterror() or "cannot open the file for writing")
    try:
        for index, plan in enumerate(plans):
            if index > 0 and not out.open(temp, plan.spec, "AppendSubimage"):
                raise _WriteFailed(out.geterror())
            _write_part_pixels(out, plan)
    finally:
        closed = out.close()
    if not closed:
        raise _WriteFailed(out.geterror() or "closing the file failed")
    retype = {i: dict.fromkeys(p.uint_as_float, "uint") for i, p in enumerate(plans) if p.uint_as_float}
    if retype:
        retype_channels(temp, retype)
    _report_dropped_attributes(temp, plans)


def _write_part_pixels(out: Any, plan: _PartPlan) -> None:
    """Hand one part's pixels to OIIO band by band, each band one staging buffer in `buffer_dtype`."""
    part, spec = plan.part, plan.spec
    channels = part.channels
    rows = max(1, BAND_BYTES // (part.width * len(channels) * plan.buffer_dtype.itemsize))
    tiled = part.tile_size is not None
    if tiled:
        tile_h = part.tile_size[1]  # type: ignore[index]
        rows = max(tile_h, rows // tile_h * tile_h)
    starts = list(range(0, part.height, rows))
    if not tiled and str(part.attributes.get("openexr:lineOrder", "")) == "decreasingY":
        starts.reverse()  # OpenEXR takes decreasingY scanlines bottom band first
    as_bits = set(plan.uint_as_float)
    staging = np.empty((min(rows, part.height), part.width, len(channels)), dtype=plan.buffer_dtype)
    for y0 in starts:
        y1 = min(part.height, y0 + rows)
        band = staging[: y1 - y0]  # leading rows of a C-contiguous array: contiguous
        for c, name in enumerate(channels):
            values = part.pixels[name][y0:y1]
            band[..., c] = values.view(np.float32) if name in as_bits else values
        ybegin, yend = spec.y + y0, spec.y + y1
        if tiled:
            ok = out.write_tiles(spec.x, spec.x + spec.width, ybegin, yend, 0, 1, band)
        else:
            ok = out.write_scanlines(ybegin, yend, 0, band)
        if not ok:
            raise _WriteFailed(out.geterror() or f"writing rows {ybegin}-{yend} failed")


def _report_dropped_attributes(temp: str, plans: list[_PartPlan]) -> None:
    """Warn about attributes OIIO silently did not write (double, int[4], ...): read the header back."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(temp)
    if inp is None:
        raise _WriteFailed(f"the written file cannot be read back: {oiio.geterror()}")
    try:
        for index, plan in enumerate(plans):
            if index > 0 and not inp.seek_subimage(index, 0):
                raise _WriteFailed(f"the written file lacks part {index}: {inp.geterror()}")
            got, _ = read_attributes(inp.spec())
            dropped = sorted(n for n in set(plan.attributes) - set(got) - NOT_CHECKED if is_utf8(n))
            if dropped:
                log.warning(
                    "part %d: OpenImageIO did not write header attribute(s) %s (a type it cannot store)",
                    index,
                    ", ".join(dropped),
                )
    finally:
        inp.close()


def _fsync(path: str) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX); folders cannot be opened for fsync on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove temporary file %s: %s", path, exc)
