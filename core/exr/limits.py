"""What an EXR may ask of the reader, checked from its header before a byte of pixels is allocated.

A 300 KB file can declare a 6000x6000 image with hundreds of channels; decoding it would take
gigabytes. A server reads untrusted files (uploads, shared paths), so before decoding it checks the
header against `DecodeLimits` (pixels per part, channels, decoded bytes), by OpenImageIO's reading of
the header (`read_exr(..., limits=)`) and, for uploads, by StyleLock's own parser of the raw header
(`check_header_bytes`), which is pure Python and so cannot crash on a hostile file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from stylelock.core.errors import CorruptFrameError, ResourceLimitError
from stylelock.core.exr.rawheader import channels_of, read_raw_headers_of_file

_BYTES = {"uint": 4, "half": 2, "float": 4, "uint32": 4, "float16": 2, "float32": 4}


@dataclass(frozen=True)
class DecodeLimits:
    """Per-frame limits; a server's defaults allow an 8K x 8K plate with a few dozen channels."""

    max_pixels: int = 8192 * 8192
    max_channels: int = 512
    max_decoded_bytes: int = 4 * 1024**3

    def check(
        self,
        width: int,
        height: int,
        channel_types: Iterable[str],
        where: str,
        tile: tuple[int, int] | None = None,
    ) -> None:
        """Raise `ResourceLimitError` naming the limit `where` would exceed; CorruptFrameError for a
        window that cannot be.

        `tile` is a tiled part's tile size: the decoder holds one whole tile of every channel while
        it decodes, whatever the data window, so a 32x32 image declaring 16384x16384 tiles would
        take 16 GiB (and minutes) to refuse; a tile is held to the limits of a frame.
        """
        types = list(channel_types)
        if width <= 0 or height <= 0:
            raise CorruptFrameError(f"{where} declares an empty or negative data window ({width}x{height})")
        pixels = width * height
        if pixels > self.max_pixels:
            raise ResourceLimitError(
                f"{where} is {width}x{height} ({pixels:,} pixels), over the server's limit of "
                f"{self.max_pixels:,} pixels a frame"
            )
        if len(types) > self.max_channels:
            raise ResourceLimitError(
                f"{where} has {len(types)} channels, over the server's limit of {self.max_channels}"
            )
        pixel_bytes = sum(_BYTES.get(t, 4) for t in types)
        decoded = pixels * pixel_bytes
        if decoded > self.max_decoded_bytes:
            raise ResourceLimitError(
                f"{where} would take {decoded / 1024**3:.1f} GiB decoded, over the server's limit of "
                f"{self.max_decoded_bytes / 1024**3:.1f} GiB a frame"
            )
        if tile is not None:
            tile_width, tile_height = tile
            if tile_width <= 0 or tile_height <= 0:
                raise CorruptFrameError(f"{where} declares tiles of {tile_width}x{tile_height} pixels")
            tile_pixels = tile_width * tile_height
            held = f"{where} declares tiles of {tile_width}x{tile_height} pixels (decoded whole)"
            if tile_pixels > self.max_pixels:
                raise ResourceLimitError(
                    f"{held}, over the server's limit of {self.max_pixels:,} pixels a frame"
                )
            if tile_pixels * pixel_bytes > self.max_decoded_bytes:
                raise ResourceLimitError(
                    f"{held}: {tile_pixels * pixel_bytes / 1024**3:.1f} GiB, over the server's limit "
                    f"of {self.max_decoded_bytes / 1024**3:.1f} GiB a frame"
                )


def check_header_bytes(path: str, limits: DecodeLimits, name: str = "") -> None:
    """Check an EXR file's every part against `limits` from its raw header (no decoder involved).
    `name` is what messages call the file (default its path)."""
    name = name or path
    try:
        headers = read_raw_headers_of_file(path)
        for index, header in enumerate(headers):
            where = f"part {index} of {name}"
            window = header.get("dataWindow")
            channels = header.get("channels")
            if window is None or channels is None or len(window.value) != 16:
                raise CorruptFrameError(f"{where} has no valid data window or channel list")
            x0, y0, x1, y1 = struct.unpack("<iiii", window.value)
            types = [channel.pixel_type for channel in channels_of(channels)]
            if any(t.startswith("unknown") for t in types):
                raise CorruptFrameError(f"{where} has a channel of an unknown pixel type")
            tiles = header.get("tiles")
            tile = struct.unpack_from("<II", tiles.value) if tiles is not None else None
            limits.check(x1 - x0 + 1, y1 - y0 + 1, types, where, tile)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        reason = ascii(str(exc))[1:-1]  # a corrupt header's bytes, shown printable and short
        reason = reason if len(reason) <= 120 else reason[:119] + "…"
        raise CorruptFrameError(f"{name} is not a valid OpenEXR file ({reason})") from None
