"""The raw OpenEXR header: read what a file really declares, and retype 32-bit channels in place.

Why this exists: OpenImageIO's Python API has no way to hand it pixels in the file's native
per-channel layout. A part whose channels mix uint32 with half or float is written from one buffer
type that OIIO converts per channel, and its float<->uint conversion is *normalised* (1.0 becomes
4294967295) and passes through float32, so IDs above 2**24 are lost. Our exact path: write the
uint32 channels as 32-bit FLOAT channels carrying the uint32 bit patterns (float32 -> float32 is a
copy, bit-exact for every pattern, NaNs included), then change only the channel's pixel-type field
in the channel list from FLOAT to UINT. Both types are 4 bytes, and the codecs in
`RETYPE_SAFE_COMPRESSIONS` store FLOAT and UINT data byte-for-byte alike, so the chunk sizes, the
offset tables and the compressed data stay valid. Tests read such files back through OIIO.

The parser also lets tests check what a header really holds (not OIIO's view of it).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

MAGIC = b"\x76\x2f\x31\x01"
_MULTIPART = 0x1000
_PIXEL_TYPES = {0: "uint", 1: "half", 2: "float"}
_TYPE_CODES = {name: code for code, name in _PIXEL_TYPES.items()}

#: Codecs that treat 32-bit FLOAT and UINT channel data identically (as bytes, or as 16-bit words
#: for PIZ; B44 only touches half channels). PXR24 (lossy for FLOAT only) and DWA (classifies
#: channels by type and name) are not, nor are codecs we have not verified.
RETYPE_SAFE_COMPRESSIONS: frozenset[str] = frozenset({"none", "rle", "zips", "zip", "piz", "b44", "b44a"})


@dataclass(frozen=True)
class RawAttribute:
    type: str
    value: bytes
    offset: int
    """Byte offset of the value in the file."""


@dataclass(frozen=True)
class RawChannel:
    name: str
    pixel_type: str
    """"uint", "half" or "float"."""
    type_offset: int
    """Byte offset of the channel's pixel-type field in the file."""


class _Truncated(ValueError):
    """The bytes end inside the header."""


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        raise _Truncated("the data ends inside a name")
    return data[pos:end].decode("latin-1"), end + 1


def read_raw_headers(data: bytes) -> list[dict[str, RawAttribute]]:
    """Every part's header attributes, by name, as the file stores them. ValueError when malformed."""
    if data[:4] != MAGIC:
        raise ValueError("not an OpenEXR file (bad magic number)")
    (flags,) = struct.unpack_from("<I", data, 4)
    multipart = bool(flags & _MULTIPART)
    pos = 8
    headers: list[dict[str, RawAttribute]] = []
    try:
        while True:
            attributes: dict[str, RawAttribute] = {}
            while True:
                name, pos = _cstring(data, pos)
                if not name:
                    break
                type_name, pos = _cstring(data, pos)
                (size,) = struct.unpack_from("<i", data, pos)
                pos += 4
                if size < 0:
                    raise ValueError(f"attribute {name!r} has a negative size")
                if pos + size > len(data):
                    raise _Truncated(f"attribute {name!r} runs past the end of the data")
                attributes[name] = RawAttribute(type_name, data[pos : pos + size], pos)
                pos += size
            headers.append(attributes)
            if not multipart or data[pos : pos + 1] == b"\0":
                return headers
    except (IndexError, struct.error) as exc:
        raise _Truncated(f"truncated OpenEXR header: {exc}") from None


def read_raw_headers_of_file(path: str) -> list[dict[str, RawAttribute]]:
    """`read_raw_headers` of a file, reading only as much of it as the headers take."""
    size = 1 << 16
    with open(path, "rb") as handle:
        while True:
            handle.seek(0)
            data = handle.read(size)
            try:
                return read_raw_headers(data)
            except _Truncated:
                if len(data) < size:  # the whole file is read: it really is truncated
                    raise
                size *= 4


def channels_of(attribute: RawAttribute) -> list[RawChannel]:
    """Decode a `chlist` attribute."""
    data, pos, out = attribute.value, 0, []
    while pos < len(data) and data[pos] != 0:
        name, pos = _cstring(data, pos)
        (code,) = struct.unpack_from("<i", data, pos)
        out.append(RawChannel(name, _PIXEL_TYPES.get(code, f"unknown({code})"), attribute.offset + pos))
        pos += 16  # pixel type, pLinear + 3 reserved bytes, x sampling, y sampling
    return out


def retype_channels(path: str, retype: Mapping[int, Mapping[str, str]]) -> None:
    """Set the pixel type of channels in place: {part index: {channel name: "uint" | "half" | "float"}}.

    Only the 4-byte type fields change; the caller guarantees the stored data fits the new type.
    """
    headers = read_raw_headers_of_file(path)
    with open(path, "r+b") as handle:
        for part_index, wanted in retype.items():
            channels = {c.name: c for c in channels_of(headers[part_index]["channels"])}
            for name, pixel_type in wanted.items():
                if name not in channels:
                    raise ValueError(f"part {part_index} has no channel {name!r} to retype")
                handle.seek(channels[name].type_offset)
                handle.write(struct.pack("<i", _TYPE_CODES[pixel_type]))
