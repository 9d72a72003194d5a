"""Reading EXR files through OpenImageIO into `ExrImage`, every channel in its native type."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from stylelock.core.errors import CorruptFrameError, FramesMissingError, ResourceLimitError
from stylelock.core.exr.attrs import is_utf8, read_attributes
from stylelock.core.exr.limits import DecodeLimits
from stylelock.core.exr.types import NATIVE_DTYPES, ExrImage, ExrPart, Window

log = logging.getLogger(__name__)


def read_exr(path: str | os.PathLike[str], limits: DecodeLimits | None = None) -> ExrImage:
    """Read every part and channel of an EXR file, each channel in its native dtype.

    Raises FramesMissingError when the file does not exist and CorruptFrameError (naming the file
    and what is wrong) when it is not an OpenEXR file or cannot be decoded. With `limits`, a part
    whose header asks for more (pixels, channels, decoded bytes) raises ResourceLimitError before
    its pixels are allocated.
    """
    return _read(os.fspath(path), pixels=True, limits=limits)


def read_exr_header(path: str | os.PathLike[str]) -> ExrImage:
    """Like `read_exr` without decoding pixels (every `pixels` dict is empty): windows, channels and
    their types, compression and attributes, at the cost of reading the header."""
    return _read(os.fspath(path), pixels=False)


def _read(path: str, pixels: bool, limits: DecodeLimits | None = None) -> ExrImage:
    try:
        return _read_checked(path, pixels, limits)
    except UnicodeDecodeError as exc:  # OIIO hands a corrupt header's bytes on as text
        raise CorruptFrameError(
            f"{path} has a corrupt header (text that is not UTF-8: {exc.reason})"
        ) from None
    except MemoryError:  # the decoder's std::bad_alloc, for a header that asks for too much
        raise ResourceLimitError(f"decoding {path} needs more memory than the decoder may use") from None


def _read_checked(path: str, pixels: bool, limits: DecodeLimits | None) -> ExrImage:
    import OpenImageIO as oiio

    if not os.path.exists(path):
        raise FramesMissingError(f"EXR file not found: {path}")
    if os.path.isdir(path):
        raise CorruptFrameError(f"{path} is a folder, not an EXR file")
    if os.path.getsize(path) == 0:
        raise CorruptFrameError(f"EXR file {path} is empty (0 bytes)")
    inp = oiio.ImageInput.open(path)
    if inp is None:
        reason = oiio.geterror() or "unknown reason"
        raise CorruptFrameError(f"cannot open EXR file {path}: {_one_line(reason)}")
    try:
        if inp.format_name() != "openexr":
            raise CorruptFrameError(f"{path} is not an OpenEXR file (it holds a {inp.format_name()} image)")
        parts = []
        index = 0
        while True:
            if index > 0 and not inp.seek_subimage(index, 0):
                inp.geterror()  # clear OIIO's "no such subimage" so it is not printed at exit
                break
            parts.append(_read_part(inp, index, path, pixels, limits))
            index += 1
    finally:
        inp.close()
    log.debug("read %s: %d part(s)%s", path, len(parts), "" if pixels else " (header only)")
    return ExrImage(parts=parts, path=path)


def _read_part(inp: Any, index: int, path: str, pixels: bool, limits: DecodeLimits | None) -> ExrPart:
    spec = inp.spec()
    where = f"part {index} of {path}"
    if spec.deep:
        raise CorruptFrameError(f"{where} holds deep data, which StyleLock does not read")
    names = list(spec.channelnames)
    part_name = spec.get_string_attribute("oiio:subimagename", "")
    if not all(is_utf8(n) for n in [*names, part_name]):  # OIIO hands such text on with lone surrogates
        raise CorruptFrameError(f"{where} has a channel or part name that is not UTF-8 text")
    formats = (
        [str(f) for f in spec.channelformats] if len(spec.channelformats) else [str(spec.format)] * len(names)
    )
    for name, fmt in zip(names, formats, strict=True):
        if fmt not in NATIVE_DTYPES:
            raise CorruptFrameError(f"{where}: channel {name!r} has unsupported pixel type {fmt!r}")
    attributes, types = read_attributes(spec)
    part = ExrPart(
        channels=names,
        pixels={},
        data_window=Window(spec.x, spec.y, spec.width, spec.height),
        display_window=Window(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
        pixel_aspect=float(spec.get_float_attribute("PixelAspectRatio", 1.0)),
        compression=spec.get_string_attribute("compression", "none"),
        tile_size=(spec.tile_width, spec.tile_height) if spec.tile_width > 0 else None,
        attributes=attributes,
        name=part_name or None,
        attribute_types=types,
        channel_formats=dict(zip(names, formats, strict=True)),
    )
    if pixels:
        if limits is not None:
            tile = (spec.tile_width, spec.tile_height) if spec.tile_width > 0 else None
            limits.check(spec.width, spec.height, formats, where, tile)
        part.pixels = _read_pixels(inp, index, names, formats, spec, where)
    return part


def _runs(formats: list[str]) -> list[tuple[int, int, str]]:
    """Contiguous runs of channels sharing one type: [(begin, end, type)]."""
    runs: list[tuple[int, int, str]] = []
    for index, fmt in enumerate(formats):
        if runs and runs[-1][2] == fmt:
            runs[-1] = (runs[-1][0], index + 1, fmt)
        else:
            runs.append((index, index + 1, fmt))
    return runs


def _read_pixels(
    inp: Any, index: int, names: list[str], formats: list[str], spec: Any, where: str
) -> dict[str, np.ndarray]:
    """One read per run of same-typed channels, in that type: no conversion, so every bit survives.

    Each channel is a (height, width) view into its run's buffer; nothing is copied twice.
    """
    import OpenImageIO as oiio

    out: dict[str, np.ndarray] = {}
    for begin, end, fmt in _runs(formats):
        block = inp.read_image(index, 0, begin, end, oiio.TypeDesc(fmt))
        if block is None:
            reason = inp.geterror() or "unknown reason"
            raise CorruptFrameError(f"cannot decode {where}: {_one_line(reason)}")
        block = np.asarray(block).reshape(spec.height, spec.width, end - begin)
        if block.dtype != NATIVE_DTYPES[fmt]:
            raise CorruptFrameError(f"{where}: OpenImageIO returned {block.dtype} for {fmt} channels")
        for offset, name in enumerate(names[begin:end]):
            out[name] = block[:, :, offset]
    return out


def _one_line(message: str, limit: int = 300) -> str:
    """A decoder's message on one line and short (OpenEXR repeats itself for every chunk it tried)."""
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
