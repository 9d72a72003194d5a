"""EXR frames in and out through OpenImageIO, with nothing lost on the way.

`read_exr` gives an `ExrImage`: every part (subimage) of the file, every channel in its native
type (half -> float16, float -> float32, uint -> uint32), the data window (which may be larger than
the display window and start at a negative origin, as with overscan), the display window, pixel
aspect, compression, tile size and every header attribute. `write_exr` writes it back atomically
with all of that kept, bit for bit, plus provenance attributes. Both are tested on real files.

Compression policy (`output_compression`)
    An output keeps its input's compression when that is lossless (none, rle, zips, zip, piz,
    pxr24, zstd). A lossy input compression (DWAA, DWAB, B44, B44A, with or without a level suffix
    such as "dwaa:45") becomes ZIP unless the user asks for a compression explicitly, because
    re-encoding degrades the pixels a second time: DWA is not idempotent, and it compresses lossily
    *every* channel whose name ends like a colour channel (`*.R`, `*.G`, `*.B`, `*.Y`), so
    Cryptomatte IDs (`crypto00.R`) and normals (`N.Y`) would change too. PXR24 is kept: it is lossy
    for float32 channels only (24 of 32 bits) and idempotent, so passthrough channels do not change.

Exactness
    Pixels are read one run of same-typed channels at a time, in that type: no conversion at all.
    On write, a part whose channels share one type is handed over in that type (a plain copy). A
    part mixing half and float goes through a float32 buffer, exact both ways for every half bit
    pattern (NaN payloads included). uint32 channels in a mixed part cannot go through OIIO's
    per-channel conversion (it normalises and passes through float32), so they are written as
    float32 bit patterns and retyped to UINT in the header afterwards (see `exr_rawheader`); that is
    exact with none/rle/zips/zip/piz/b44/b44a, and such a part asked to use another codec is written
    with zip (logged).

Header attributes
    `ExrPart.attributes` holds every attribute OIIO reports except: `compression`,
    `PixelAspectRatio`, `oiio:subimagename`/`name` (held in fields); the OIIO bookkeeping counts
    `oiio:subimages`, `oiio:miplevels`, `oiio:RowsPerChunk`, `openexr:chunkCount`,
    `openexr:roundingmode` (MIP rounding of the tile description); and
    `oiio:ColorSpace` when it only repeats `colorInteropID`. OIIO renames some EXR attributes
    (`owner` is `Copyright`, `capDate` is `DateTime`, `timeCode` is `smpte:TimeCode`,
    `framesPerSecond` is `FramesPerSecond`) and writes them back under the EXR names.
    OIIO 3.2 facts this module works around, each checked by tests/core/test_exr.py:
    - it never writes `oiio:ColorSpace` under that name: it turns a colour space it knows into
      `colorInteropID` (`ACEScg` -> `lin_ap1_scene`) and silently drops one it does not know. So
      `oiio:ColorSpace` is never passed to OIIO on write; `colorInteropID` round-trips as it is, and
      a raw `oiio:ColorSpace` header attribute from another tool is reported on read but dropped on
      write, with a warning. Keep our own colour tags under `stylelock:*` attributes.
    - it stamps a `capDate` of "now" into every file it writes; `write_exr` suppresses that unless
      the part has a `DateTime`, so outputs are reproducible byte for byte.
    - it silently drops attributes of types it cannot write (double, int[4], ...); `write_exr`
      reads the header back and logs a warning naming them.
    - it hands header text that is not UTF-8 on with lone surrogates and cannot write such text
      back (std::bad_cast): `write_exr` writes it with the undecodable bytes replaced by U+FFFD,
      and leaves out an attribute whose name is not UTF-8, each with a warning.
    - a multipart file must be all scanline or all tiled (OIIO cannot write a mix); parts must
      share the display window and pixel aspect (OpenEXR).
    - only MIP level 0 of a MIP-mapped file is read, and it is written back single-level, without
      its `textureformat` attribute (OIIO would declare MIP levels for it that are never written).
"""

from __future__ import annotations

import numpy as np

from stylelock.core.errors import SpecError
from stylelock.core.exr.compression import (
    KNOWN_COMPRESSIONS,
    LOSSY_COMPRESSIONS,
    check_compression,
    is_lossy,
    output_compression,
)
from stylelock.core.exr.read import read_exr, read_exr_header
from stylelock.core.exr.types import NATIVE_DTYPES, RGB_NAMES, ExrImage, ExrPart, Window, layer_prefix
from stylelock.core.exr.write import write_exr

__all__ = [
    "KNOWN_COMPRESSIONS",
    "LOSSY_COMPRESSIONS",
    "ExrImage",
    "ExrPart",
    "Window",
    "check_compression",
    "is_lossy",
    "output_compression",
    "read_exr",
    "read_exr_header",
    "set_rgb",
    "write_exr",
]


def set_rgb(part: ExrPart, rgb: np.ndarray, layer: str = "") -> None:
    """Store a (height, width, 3) float32 image into the layer's R, G, B channels.

    Each channel keeps its native type: float32 channels get the values as they are, float16
    channels get them rounded to nearest-even (numpy's float32 -> float16 cast). New arrays replace
    the old ones, so other views of the old pixels are unaffected.
    """
    rgb = np.asarray(rgb)
    expected = (part.height, part.width, 3)
    if rgb.shape != expected:
        raise SpecError(f"set_rgb: image shape {rgb.shape} does not match the part's data window {expected}")
    if rgb.dtype != np.float32:
        raise SpecError(f"set_rgb: image must be float32, got {rgb.dtype}")
    names = [layer_prefix(layer) + c for c in RGB_NAMES]
    missing = [n for n in names if n not in part.channels]
    if missing:
        raise SpecError(
            f"set_rgb: the part has no {', '.join(missing)} channel(s); layers with RGB: "
            f"{', '.join(repr(x) for x in part.rgb_layers()) or 'none'}"
        )
    for index, name in enumerate(names):
        fmt = part.channel_format(name)
        if fmt == "uint":
            raise SpecError(f"set_rgb: channel {name!r} holds uint32 data, not colour")
        part.pixels[name] = rgb[..., index].astype(NATIVE_DTYPES[fmt])
