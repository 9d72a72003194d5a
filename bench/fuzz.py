"""Fuzz: mutated EXR uploads and malformed requests against a live `stylelock serve` process.

Issue 14's bar: at least 10,000 mutated EXR uploads and malformed requests against a live server,
with zero crashes, zero INTERNAL (or UNKNOWN) answers, server memory bounded and the server healthy
afterwards. This script starts a real server (`stylelock serve` on a unix socket, or loopback TCP
with port 0), drives it with the real client (`stylelock.core.client`) and raw stubs for requests
the client would never send, and records per category how many cases ended with which gRPC status,
the server's resident memory over the run, and whether the same server process still answers its
health check SERVING at the end. Results go to bench/results/fuzz.json.

Categories (each case is reproducible from the run's seed, its category and its index):

- ``exr_mutation``: a small valid EXR (one of a corpus of scanline, tiled, MIP-mapped, multipart
  and deep files in every compression) mutated by bit flips, byte insertions and deletions,
  truncation, edited header attributes (data window, channel list, compression id, tile
  description, chunk count, version flags), edited chunk offsets and chunk headers, or splices of
  two files; uploaded as an inline `passthrough` job and watched to its end.
- ``exr_valid``: an unmutated corpus file of an odd shape (1x1, one row, negative origin, uint
  channels, no RGB...) through the same path.
- ``spec``: SubmitJob with a spec built by hypothesis strategies (wrong types, nesting, NUL bytes,
  huge strings, non-finite parameters, odd frame ranges, unknown fields).
- ``upload``: UploadFrames streams that break the protocol (chunks out of order, frames not asked
  for, another job's id, missing `last`, empty files, not-EXR bytes, a file over the size limit).
- ``job_id``: WatchJob, CancelJob and UploadFrames naming job ids that do not exist or are odd.

A case that ends the server process stops the run and is reported as its crash (an EXR case's
input is kept beside the run as crash_<category>_<index>.bin); a case still running after 120 s is a
hang: the server is killed and the run stops. The server's resident memory and its decode workers'
are sampled every 0.25 s, from the server's start and after a warm-up that loads the engines an
accepted case may start (passthrough, keyframe: a one-time step of about 300 MiB). "Bounded" means
the peak of both together stays under --rss-limit-mb (1024) and the last half of the run shows no
upward trend (its last quarter's median within 5%, or 16 MiB, of its third quarter's; the
least-squares slope is reported too).

    python bench/fuzz.py [--seed 14] [--cases 12000] [--quick] [--transport unix|tcp] [--out PATH]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from stylelock.core.client import StyleLockClient
from stylelock.core.client.events import ERROR, FINISHED, TERMINAL_KINDS
from stylelock.core.errors import StyleLockError
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc

#: What these numbers measure (bench/provenance.py): what decides how the server answers hostile
#: input - its EXR decoding and header checks, the upload path, and the job spec's shape checks.
MEASURES = (
    "core/exr",
    "server/transport.py",
    "core/spec_shape.py",
    "core/jobspec.py",
    "core/params.py",
    "bench/fuzz.py",
)

MAGIC = b"\x76\x2f\x31\x01"

# -- the corpus: small valid EXRs of many kinds -------------------------------------------------------

COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab", "zstd")
CHANNEL_SETS = (
    ("R", "G", "B", "A"),
    ("R", "G", "B"),
    ("Y",),
    ("R", "G", "B", "A", "depth.Z", "N.X", "N.Y", "N.Z"),
    ("A", "B", "G", "R", "crypto.R", "crypto.G"),
)
FIXED_DATE = "2025:01:14 12:00:00"
SIZES = ((8, 8), (13, 7), (1, 1), (64, 48), (32, 1), (1, 24), (17, 33))


@dataclass(frozen=True)
class CorpusFile:
    label: str
    data: bytes


def _values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Pixels with the values a plate has: mostly 0-1, some highlights, a few negatives and NaNs."""
    values = rng.random(shape, dtype=np.float32)
    values[rng.random(shape) < 0.05] *= 1000.0
    values[rng.random(shape) < 0.02] *= -1.0
    values[rng.random(shape) < 0.01] = np.nan
    return values


def _write(path: str, parts: list[tuple], mip: bool = False) -> None:
    """Write `parts` [(spec, pixels)] with OpenImageIO: several parts make a multipart file."""
    import OpenImageIO as oiio

    out = oiio.ImageOutput.create(path)
    specs = [spec for spec, _ in parts]
    if not (out.open(path, specs) if len(parts) > 1 else out.open(path, specs[0])):
        raise RuntimeError(out.geterror())
    for index, (spec, pixels) in enumerate(parts):
        if index:
            out.open(path, spec, "AppendSubimage")
        if spec.deep:
            if not out.write_deep_image(pixels):
                raise RuntimeError(out.geterror())
            continue
        level = pixels
        while True:
            if not out.write_image(level):
                raise RuntimeError(out.geterror())
            if not mip or (level.shape[0] == 1 and level.shape[1] == 1):
                break
            level = level[::2, ::2].copy()
            level_spec = oiio.ImageSpec(spec)
            level_spec.width, level_spec.height = level.shape[1], level.shape[0]
            level_spec.full_width, level_spec.full_height = level_spec.width, level_spec.height
            out.open(path, level_spec, "AppendMIPLevel")
    out.close()


def _spec(
    width: int,
    height: int,
    channels: tuple[str, ...],
    types: list[str],
    compression: str,
    *,
    tile: tuple[int, int] | None = None,
    origin: tuple[int, int] = (0, 0),
    line_order: str = "increasingY",
    name: str = "",
):
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(width, height, len(channels), types[0])
    spec.channelnames = channels
    if len(set(types)) > 1:
        spec.channelformats = [oiio.TypeDesc(t) for t in types]
    spec.x, spec.y = origin
    spec.full_x, spec.full_y = 0, 0
    spec.full_width, spec.full_height = max(1, width - 2), max(1, height - 2)
    spec.attribute("compression", compression)
    spec.attribute("DateTime", FIXED_DATE)  # else OIIO stamps the time of writing: not reproducible
    spec.attribute("openexr:lineOrder", line_order)
    if tile:
        spec.tile_width, spec.tile_height = tile
    if name:
        spec.attribute("oiio:subimagename", name)
    return spec


def build_corpus(seed: int, folder: Path) -> list[CorpusFile]:
    """The seed files: every compression, scanline and tiled (some MIP-mapped), multipart, deep,
    odd sizes and origins, half / float / uint channels. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    corpus: list[CorpusFile] = []

    def add(label: str, parts: list[tuple], mip: bool = False) -> None:
        path = str(folder / f"corpus_{len(corpus):03d}.exr")
        _write(path, parts, mip)
        corpus.append(CorpusFile(label, Path(path).read_bytes()))

    for index, compression in enumerate(COMPRESSIONS):
        for tiled in (False, True):
            width, height = SIZES[(index + tiled) % len(SIZES)]
            channels = CHANNEL_SETS[(index + 2 * tiled) % len(CHANNEL_SETS)]
            kind = pick.choice(("half", "float", "mixed", "uint"))
            if kind == "mixed":
                types = [pick.choice(("half", "float")) for _ in channels]
            else:
                types = [kind] * len(channels)
            tile = (pick.choice((4, 8, 16)), pick.choice((4, 8, 16))) if tiled else None
            origin = (pick.randint(-5, 5), pick.randint(-5, 5))
            order = (
                "randomY" if tiled and pick.random() < 0.3 else pick.choice(("increasingY", "decreasingY"))
            )
            spec = _spec(
                width, height, channels, types, compression, tile=tile, origin=origin, line_order=order
            )
            pixels = _values(rng, (height, width, len(channels)))
            layout_name = "tiled" if tiled else "scanline"
            label = f"{compression} {layout_name} {width}x{height} {'/'.join(channels)} {kind}"
            add(label, [(spec, pixels)])
    for compression in ("zip", "piz", "none"):  # MIP-mapped tiles
        spec = _spec(32, 32, ("R", "G", "B"), ["half"] * 3, compression, tile=(8, 8))
        spec.attribute("textureformat", "Plain Texture")
        spec.attribute("openexr:levelmode", 1)
        add(f"{compression} mipmap 32x32", [(spec, _values(rng, (32, 32, 3)))], mip=True)
    for tiled in (False, True):  # multipart: a beauty and an AOV part
        tile = (8, 8) if tiled else None
        beauty = _spec(24, 16, ("R", "G", "B", "A"), ["half"] * 4, "zip", tile=tile, name="rgba")
        aov = _spec(24, 16, ("Z",), ["float"], "zips" if not tiled else "rle", tile=tile, name="depth")
        add(
            f"multipart {'tiled' if tiled else 'scanline'} 24x16",
            [(beauty, _values(rng, (16, 24, 4))), (aov, _values(rng, (16, 24, 1)))],
        )
    for compression in (
        "none",
        "zips",
        "rle",
    ):  # deep scanline (StyleLock refuses it; the decoder must not crash)
        corpus.append(
            CorpusFile(f"deep {compression} 6x5", _deep_file(folder, compression, rng, len(corpus)))
        )
    return corpus


def _deep_file(folder: Path, compression: str, rng: np.random.Generator, index: int) -> bytes:
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(6, 5, 2, "float")
    spec.channelnames = ("A", "Z")
    spec.deep = True
    spec.attribute("compression", compression)
    spec.attribute("DateTime", FIXED_DATE)
    deep = oiio.DeepData()
    deep.init(spec)
    for pixel in range(6 * 5):
        samples = int(rng.integers(0, 4))
        deep.set_samples(pixel, samples)
        for sample in range(samples):
            deep.set_deep_value(pixel, 0, sample, float(rng.random()))
            deep.set_deep_value(pixel, 1, sample, float(rng.random() * 10))
    path = str(folder / f"corpus_{index:03d}.exr")
    out = oiio.ImageOutput.create(path)
    if not out.open(path, spec) or not out.write_deep_image(deep):
        raise RuntimeError(out.geterror())
    out.close()
    return Path(path).read_bytes()


# -- mutations ---------------------------------------------------------------------------------------

# fmt: off
INTERESTING_32 = (0, 1, -1, 2, 7, 8, 255, 256, 4096, 8191, 8192, 8193, 16384, 65535, 65536,
                  2**20, 2**24, 2**30, 2**31 - 1, -(2**31), -(2**31) + 1, -2, -4096)
# fmt: on
INTERESTING_64 = (0, 1, 7, 8, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, 2**62)


@dataclass(frozen=True)
class Layout:
    """Where a file's header ends and its chunk offset table lies (best effort on any bytes)."""

    attributes: list[tuple[str, str, int, int]]
    """(name, type, value offset, value size) of every attribute of every part, in file order."""
    header_end: int
    table: list[int]
    """Byte positions of the offset table's 8-byte entries."""


def layout(data: bytes) -> Layout:
    attributes: list[tuple[str, str, int, int]] = []
    pos, end = 8, len(data)
    multipart = len(data) >= 8 and bool(struct.unpack_from("<I", data, 4)[0] & 0x1000)
    try:
        while pos < end:
            while pos < end and data[pos] != 0:
                name_end = data.index(b"\0", pos)
                name = data[pos:name_end].decode("latin-1")
                type_end = data.index(b"\0", name_end + 1)
                type_name = data[name_end + 1 : type_end].decode("latin-1")
                (size,) = struct.unpack_from("<i", data, type_end + 1)
                value = type_end + 5
                attributes.append((name, type_name, value, size))
                if size < 0 or value + size > end:
                    raise ValueError
                pos = value + size
            pos += 1  # the part's terminating NUL
            if not multipart or (pos < end and data[pos] == 0):
                pos += 1 if multipart else 0
                break
    except (ValueError, struct.error):
        return Layout(attributes, min(pos, end), [])
    table, cursor, first_chunk = [], pos, end
    while cursor + 8 <= min(first_chunk, end) and len(table) < 100_000:
        (offset,) = struct.unpack_from("<Q", data, cursor)
        if not pos < offset < end:
            break
        table.append(cursor)
        first_chunk = min(first_chunk, offset)
        cursor += 8
    return Layout(attributes, pos, table)


def _box(rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:  # huge, within int32
        w, h = rng.choice((8192, 8193, 16384, 65536, 2**20, 2**30)), rng.choice((1, 8, 8192, 2**16, 2**30))
        return struct.pack("<iiii", 0, 0, w - 1, h - 1)
    if choice == 1:  # inverted or empty
        x0, y0 = rng.randint(-10, 10), rng.randint(-10, 10)
        return struct.pack("<iiii", x0, y0, x0 - rng.randint(1, 5), y0 + rng.randint(-5, 5))
    if choice == 2:  # extremes, overflowing width
        return struct.pack(
            "<iiii", -(2**31), rng.choice(INTERESTING_32), 2**31 - 1, rng.choice(INTERESTING_32)
        )
    if choice == 3:  # small shifts of a plausible window
        return struct.pack("<iiii", *(rng.randint(-3, 70) for _ in range(4)))
    return struct.pack("<iiii", *(rng.choice(INTERESTING_32) for _ in range(4)))


def _chlist(value: bytes, rng: random.Random) -> bytes:
    data = bytearray(value)
    records, pos = [], 0
    while pos < len(data) and data[pos] != 0:
        end = data.find(b"\0", pos)
        if end < 0 or end + 17 > len(data):
            break
        records.append((pos, end + 1))
        pos = end + 17
    if not records:
        return bytes(data)
    start, fields = rng.choice(records)
    action = rng.randrange(6)
    if action == 0:  # pixel type
        struct.pack_into("<i", data, fields, rng.choice((-1, 0, 1, 2, 3, 4, 255, 2**31 - 1)))
    elif action == 1:  # x / y sampling
        struct.pack_into("<i", data, fields + 8 + 4 * rng.randrange(2), rng.choice((0, 2, 3, -1, 2**31 - 1)))
    elif action == 2:  # duplicate a channel record
        record = bytes(data[start : fields + 16])
        data[start:start] = record
    elif action == 3:  # drop the list's terminator or its last records
        del data[rng.randrange(len(data)) :]
    elif action == 4:  # rename to an empty or a long name
        name = rng.choice((b"", b"R" * 300, b"\xff\xfe", b"a.b.c.d.e.f"))
        data[start : fields - 1] = name
    else:  # pLinear and reserved bytes
        data[fields + 4 : fields + 8] = bytes(rng.randrange(256) for _ in range(4))
    return bytes(data)


def _new_value(name: str, type_name: str, value: bytes, rng: random.Random) -> bytes:
    if type_name == "box2i":
        return _box(rng)
    if type_name == "chlist":
        return _chlist(value, rng)
    if type_name in ("compression", "lineOrder", "envmap", "deepImageState"):
        return bytes([rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 127, 128, 255))])
    if type_name == "tiledesc" and len(value) == 9:
        x, y = rng.choice(INTERESTING_32), rng.choice(INTERESTING_32)
        return struct.pack("<IIB", x & 0xFFFFFFFF, y & 0xFFFFFFFF, rng.randrange(256))
    if type_name == "int":
        return struct.pack("<i", rng.choice(INTERESTING_32))
    if type_name in ("float", "v2f", "box2f", "m33f", "m44f", "chromaticities"):
        special = (float("nan"), float("inf"), -float("inf"), 0.0, -1.0, 1e38, 1e-45)
        count = max(1, len(value) // 4)
        return struct.pack(f"<{count}f", *(rng.choice(special) for _ in range(count)))
    if type_name == "string":
        return rng.choice(
            (
                b"",
                b"\xff" * 40,
                b"scanlineimage",
                b"tiledimage",
                b"deepscanline",
                b"deeptile",
                bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))),
            )
        )
    data = bytearray(value)
    for _ in range(max(1, len(data) // 4)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def mutate_attribute(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    """Replace one header attribute's value (the size field follows the new value's length)."""
    if not shape.attributes:
        return bitflip(data, rng, shape)
    favoured = [
        a
        for a in shape.attributes
        if a[0]
        in (
            "dataWindow",
            "displayWindow",
            "channels",
            "compression",
            "tiles",
            "chunkCount",
            "type",
            "lineOrder",
            "version",
        )
    ]
    name, type_name, offset, size = rng.choice(
        favoured if favoured and rng.random() < 0.8 else shape.attributes
    )
    if rng.random() < 0.1:  # the size field itself
        new_size = rng.choice((0, 1, size + 1, size - 1, 2**31 - 1, -1, -(2**31)))
        new_size = max(-(2**31), min(2**31 - 1, new_size))
        return data[: offset - 4] + struct.pack("<i", new_size) + data[
            offset:
        ], f"size of {name} -> {new_size}"
    old = data[offset : offset + size]
    new = _new_value(name, type_name, old, rng)
    out = data[: offset - 4] + struct.pack("<i", len(new)) + new + data[offset + size :]
    return out, f"{name} ({type_name}) {old[:16].hex()} -> {new[:16].hex()}"


def bitflip(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    out = bytearray(data)
    count = rng.choice((1, 1, 1, 2, 3, 8, 32))
    limit = shape.header_end if rng.random() < 0.6 and shape.header_end > 8 else len(out)
    spots = sorted(rng.randrange(4, max(5, limit)) for _ in range(count))
    for spot in spots:
        if spot < len(out):
            out[spot] ^= 1 << rng.randrange(8)
    return bytes(out), f"{count} bit(s) flipped at {spots[:4]}"


def set_bytes(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    out = bytearray(data)
    spot = rng.randrange(4, max(5, len(out)))
    run = rng.choice((1, 2, 4, 8))
    value = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    out[spot : spot + run] = bytes([value]) * len(out[spot : spot + run])
    return bytes(out), f"{run} byte(s) at {spot} set to {value:#x}"


def insert_bytes(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    spot = rng.randrange(4, len(data) + 1)
    extra = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 8, 64))))
    return data[:spot] + extra + data[spot:], f"{len(extra)} byte(s) inserted at {spot}"


def delete_bytes(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    spot = rng.randrange(4, max(5, len(data)))
    count = rng.choice((1, 2, 4, 8, 64))
    return data[:spot] + data[spot + count :], f"{count} byte(s) deleted at {spot}"


def truncate(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    if len(data) <= 5:
        return data[:4], "truncated to the magic number"
    marks = [shape.header_end, *(shape.table[-1:] or []), len(data) // 2, len(data) - 1]
    spot = rng.choice(marks) + rng.randint(-4, 4) if rng.random() < 0.5 else rng.randrange(4, len(data))
    spot = max(4, min(len(data) - 1, spot))
    return data[:spot], f"truncated to {spot} of {len(data)} bytes"


def mutate_offsets(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    """Edit chunk offsets: zero, huge, past the end, into the header, another chunk's."""
    if not shape.table:
        return truncate(data, rng, shape)
    out = bytearray(data)
    entry = rng.choice(shape.table)
    choice = rng.randrange(4)
    if choice == 0:
        value = rng.choice(INTERESTING_64)
    elif choice == 1:
        value = rng.choice((len(data), len(data) - 1, len(data) - 4, shape.header_end, 0, 8))
    elif choice == 2:
        (value,) = struct.unpack_from("<Q", data, rng.choice(shape.table))
    else:
        (old,) = struct.unpack_from("<Q", data, entry)
        value = (old + rng.randint(-16, 16)) % 2**64
    struct.pack_into("<Q", out, entry, value)
    return bytes(out), f"offset entry at {entry} -> {value}"


def mutate_chunk(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    """Edit the header of one chunk: its coordinates and its packed size."""
    if not shape.table:
        return bitflip(data, rng, shape)
    (offset,) = struct.unpack_from("<Q", data, rng.choice(shape.table))
    if offset + 24 > len(data):
        return bitflip(data, rng, shape)
    out = bytearray(data)
    field = rng.randrange(6)  # multipart: part number first; tiles: x, y, level x, level y; then size
    value = rng.choice(INTERESTING_32)
    struct.pack_into("<i", out, offset + 4 * field, value)
    return bytes(out), f"chunk at {offset}: int field {field} -> {value}"


def mutate_version(data: bytes, rng: random.Random, shape: Layout) -> tuple[bytes, str]:
    if len(data) < 8:
        return insert_bytes(data, rng, shape)
    out = bytearray(data)
    (flags,) = struct.unpack_from("<I", data, 4)
    if rng.random() < 0.7:
        flags ^= rng.choice((0x200, 0x400, 0x800, 0x1000, 0x1800, 0x2000))
    else:
        flags = (flags & ~0xFF) | rng.choice((0, 1, 3, 255))
    struct.pack_into("<I", out, 4, flags)
    return bytes(out), f"version field -> {flags:#x}"


MUTATORS = {
    "bitflip": bitflip,
    "set_bytes": set_bytes,
    "insert": insert_bytes,
    "delete": delete_bytes,
    "truncate": truncate,
    "attribute": mutate_attribute,
    "offsets": mutate_offsets,
    "chunk": mutate_chunk,
    "version": mutate_version,
}
# fmt: off
WEIGHTS = {"bitflip": 3, "set_bytes": 2, "insert": 1, "delete": 1, "truncate": 2, "attribute": 5,
           "offsets": 2, "chunk": 2, "version": 1}
# fmt: on


def mutant(corpus: list[CorpusFile], rng: random.Random) -> tuple[bytes, str]:
    """One mutated file: 1-3 stacked mutations of a corpus file, or a splice of two."""
    base = rng.choice(corpus)
    data, steps = base.data, [base.label]
    if rng.random() < 0.05:
        other = rng.choice(corpus)
        cut = layout(data).header_end
        data = data[:cut] + other.data[layout(other.data).header_end :]
        steps.append(f"body of {other.label}")
    names, weights = zip(*WEIGHTS.items(), strict=True)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name = rng.choices(names, weights)[0]
        data, what = MUTATORS[name](data, rng, layout(data))
        steps.append(f"{name}: {what}")
    return data, "; ".join(steps)


# -- requests, drawn by hypothesis -------------------------------------------------------------------


@dataclass(frozen=True)
class Huge:
    """A long text, expanded only when sent, so that thousands of drawn requests stay small."""

    length: int
    char: str


@dataclass(frozen=True)
class Deep:
    """JSON nested `depth` levels deep."""

    depth: int
    opener: str

    def text(self) -> str:
        closer = "]" if self.opener == "[" else "}"
        return self.opener * self.depth + "0" + closer * self.depth


#: Placeholders filled in at send time with this run's folders and ids (examples stay path-free).
PLACES = ("{shared}", "{plate}", "{real}")
# fmt: off
ODD_TEXT = ("", "\x00", "a\x00b", "..", "../../etc/passwd", "~", "/", "\\\\server\\share\\x",
            "plate.####.exr", "%04d", "$F4", "@@@@", "1-9999999", "NaN", "1e309", "-0", " ", "\u202e",
            "\U0001f600", "{real}", "{shared}", "{shared}/../..", "ocio://cg-config-latest", "ocio://nope")
PATHS = ("{plate}", "{shared}/plate.####.exr", "{shared}/out/o.####.exr", "{shared}/../etc/x.####.exr",
         "/etc/passwd", "relative/p.####.exr", "{shared}", "~/x.exr", "{shared}/plate.0001.exr",
         "{shared}/plate.%04d.exr", "{shared}/plate.#.exr", "{shared}/plate.@@@@.exr", "/dev/zero",
         "/proc/self/mem", "{shared}/plate.$F4.exr", "{shared}/out")
SPEC_FIELDS = ("plate", "frames", "engine", "params", "styles", "colour", "output", "proxy", "mask", "layer",
               "guides", "schema")
# fmt: on
DROP = "<drop>"

_chars = st.characters(exclude_categories=("Cs",))  # protobuf strings are UTF-8: no lone surrogates
texts = st.text(_chars, max_size=16)
odd_texts = st.sampled_from(ODD_TEXT)
huge_texts = st.builds(
    Huge, st.sampled_from((257, 4097, 16385, 300_000, 1_100_000)), st.sampled_from("xé\x00#")
)
any_text = st.one_of(texts, odd_texts, huge_texts)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from((0, -1, 1, 0.05, 0.049, 1.0000001, 1e308, 2**63, -(2**63) - 1)),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(texts, kids, max_size=4), max_leaves=10
)
paths = st.one_of(st.sampled_from(PATHS), texts, odd_texts, huge_texts)
frame_texts = st.one_of(
    st.from_regex(r"\A-?[0-9]{1,12}(-{1,2}[0-9]{1,12}(x-?[0-9]{1,7})?)?(,-?[0-9]{1,9}(-[0-9]{1,9})?){0,3}\Z"),
    st.sampled_from(
        ("1-3", "1-9999999", "0", "-5--1", "1-3x0", "1-3x-1", "3-1", "1,1,1", "1-100000", "1-100001")
    ),
)
# fmt: off
PARAM_NAMES = ("softness", "strength", "seed", "model", "prompt", "steps", "guidance", "controlnet_paths",
               "ip_adapter", "motion_adapter", "keyframe_blend", "x")
# fmt: on
params = st.dictionaries(
    st.one_of(st.sampled_from(PARAM_NAMES), texts), st.one_of(scalars, json_values), max_size=6
)
styles = st.lists(
    st.one_of(
        st.fixed_dictionaries({"path": paths}, optional={"frame": st.one_of(st.none(), numbers, any_text)}),
        json_values,
    ),
    max_size=3,
)
FIELD_VALUES: dict[str, st.SearchStrategy] = {
    "plate": st.one_of(paths, json_values),
    "frames": st.one_of(frame_texts, numbers, json_values),
    "engine": st.one_of(
        st.sampled_from(("passthrough", "keyframe", "diffusion-image", "diffusion-video", "nope", "")),
        json_values,
    ),
    "params": st.one_of(params, json_values),
    "styles": st.one_of(styles, json_values),
    "colour": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "config": st.one_of(st.none(), paths, st.sampled_from(("ocio://default", "ocio://bogus"))),
                "input_space": st.one_of(
                    st.none(), st.sampled_from(("ACEScg", "sRGB", "Linear Rec.709 (sRGB)")), texts
                ),
                "encoding": st.one_of(st.sampled_from(("srgb", "acescct", "log")), json_values),
            },
        ),
        json_values,
    ),
    "output": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "pattern": st.one_of(st.none(), paths),
                "compression": st.one_of(
                    st.none(),
                    st.sampled_from(("zip", "dwaa:45", "dwaa:-1", "zip:99999", "htj2k", "bogus", "")),
                    json_values,
                ),
                "resume": json_values,
            },
        ),
        json_values,
    ),
    "proxy": st.one_of(numbers, any_text, json_values),
    "mask": st.one_of(
        st.none(), st.sampled_from(("A", "matte.R", "{shared}/plate.####.exr")), paths, json_values
    ),
    "layer": st.one_of(st.sampled_from(("", "diffuse", "depth")), any_text, json_values),
    "guides": st.one_of(
        st.dictionaries(texts, st.one_of(paths, st.sampled_from(("depth.Z", "N"))), max_size=4), json_values
    ),
    "schema": st.one_of(st.sampled_from(("JobSpec.1", "JobSpec.0", "JobSpec.99", "")), json_values),
}


@dataclass(frozen=True)
class SubmitCase:
    inline: bool
    edits: tuple[tuple[Any, Any], ...]
    """(field, value): a spec field set to a value (DROP removes it; other names add unknown fields)."""
    form: str
    """json (the edited spec), text (`raw` as the whole spec), deep (nested JSON), array (a list)."""
    raw: Any
    plate_frames: tuple[int, ...]
    key: Any


@st.composite
def submit_cases(draw: Any) -> SubmitCase:
    edits = []
    for name in draw(
        st.lists(st.sampled_from((*SPEC_FIELDS, DROP, "<unknown>")), min_size=1, max_size=4, unique=True)
    ):
        if name == DROP:
            edits.append((draw(st.sampled_from(SPEC_FIELDS)), DROP))
        elif name == "<unknown>":
            edits.append((draw(texts), draw(json_values)))
        else:
            edits.append((name, draw(FIELD_VALUES[name])))
    form = draw(st.sampled_from(("json",) * 9 + ("text", "deep", "array")))
    raw: Any = None
    if form == "text":
        raw = draw(st.one_of(any_text, st.sampled_from(('{"plate": ', "{}", "null", "[]", '{"plate": NaN}'))))
    elif form == "deep":
        raw = draw(
            st.builds(Deep, st.sampled_from((30, 200, 1000, 100_000)), st.sampled_from(("[", '{"a":')))
        )
    plate_frames = draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5).map(tuple))
    key = draw(st.one_of(st.just(""), texts, st.builds(Huge, st.sampled_from((1000, 100_000)), st.just("k"))))
    return SubmitCase(draw(st.booleans()), tuple(edits), form, raw, plate_frames, key)


@dataclass(frozen=True)
class ChunkPlan:
    job: str
    """own (the case's job), other (a second job), missing (an id that is no job), empty ('')."""
    target: tuple[str, int]
    """("frame", n), ("style", i) or ("none", 0)."""
    index: int | None
    """The chunk index sent; None: the one a well-behaved client would send."""
    last: bool
    payload: str


PAYLOADS = ("whole", "whole", "head", "tail", "garbage", "empty", "magic", "big", "oversized", "mutant")


@dataclass(frozen=True)
class UploadCase:
    frames: str
    style: bool
    chunks: tuple[ChunkPlan, ...]
    mutant_seed: int


chunk_plans = st.builds(
    ChunkPlan,
    job=st.sampled_from(("own",) * 6 + ("other", "missing", "empty")),
    target=st.one_of(
        st.tuples(st.just("frame"), st.sampled_from((1, 1, 2, 3, 0, -1, 2**62))),
        st.tuples(st.just("style"), st.integers(-1, 2)),
        st.just(("none", 0)),
    ),
    index=st.one_of(st.none(), st.none(), st.integers(-2, 4), st.just(2**31 - 1)),
    last=st.booleans(),
    payload=st.sampled_from(PAYLOADS),
)
upload_cases = st.builds(
    UploadCase,
    frames=st.sampled_from(("1", "1-2", "1-3")),
    style=st.booleans(),
    chunks=st.lists(chunk_plans, max_size=6).map(tuple),
    mutant_seed=st.integers(0, 2**32),
)


@dataclass(frozen=True)
class JobIdCase:
    method: str
    job_id: Any
    after_seq: int
    include: bool


job_id_cases = st.builds(
    JobIdCase,
    method=st.sampled_from(("watch", "cancel", "upload", "list")),
    job_id=st.one_of(
        st.just(""),
        texts,
        odd_texts,
        st.sampled_from(("{real}", "{real}x", "x{real}", "0" * 32, "f" * 32, "../{real}", "{real}\x00")),
        st.builds(Huge, st.sampled_from((300, 100_000, 1_000_000)), st.sampled_from("j\x00é")),
    ),
    after_seq=st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from((0, 1, -1, 3, 1000))),
    include=st.booleans(),
)


def draw_examples(strategy: st.SearchStrategy, count: int, seed: int) -> list[Any]:
    """`count` examples of `strategy`, the same ones for the same seed (hypothesis' generation
    phase only: no database, no shrinking, nothing that depends on time or on earlier runs)."""
    found: list[Any] = []
    round_ = 0
    while len(found) < count:

        @settings(
            max_examples=count - len(found),
            database=None,
            phases=[Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis_seed(seed * 1000 + round_)
        @given(strategy)
        def collect(example: Any) -> None:
            found.append(example)

        collect()
        round_ += 1
    return found[:count]


def render(value: Any, places: dict[str, str]) -> Any:
    """A drawn value as it is sent: long texts expanded, placeholders filled in."""
    if isinstance(value, Huge):
        return value.char * value.length
    if isinstance(value, str):
        for name, filled in places.items():
            value = value.replace(name, filled)
        return value
    if isinstance(value, (list, tuple)):
        return [render(v, places) for v in value]
    if isinstance(value, dict):
        return {render(k, places): render(v, places) for k, v in value.items()}
    return value


def spec_json(case: SubmitCase, places: dict[str, str]) -> str:
    if case.form == "text":
        return str(render(case.raw, places))
    if case.form == "deep":
        return case.raw.text()
    if case.inline:
        spec: dict[str, Any] = {
            "plate": "/client/plate.####.exr",
            "frames": "1",
            "engine": "passthrough",
            "output": {"pattern": "/client/out/o.####.exr"},
        }
    else:
        spec = {
            "plate": "{plate}",
            "frames": "1-3",
            "engine": "passthrough",
            "output": {"pattern": "{shared}/out/o.####.exr"},
        }
    for name, value in case.edits:
        if value == DROP:
            spec.pop(name, None)
        else:
            spec[render(name, places)] = value
    spec = render(spec, places)
    text = json.dumps(spec, allow_nan=True)  # NaN and Infinity travel as JSON's non-standard tokens
    return f"[{text}]" if case.form == "array" else text


# -- the server under test ---------------------------------------------------------------------------

SERVE = "import sys; from stylelock.server.cli import main; sys.exit(main(sys.argv[1:]))"
MIB = 1024 * 1024
#: Server settings besides the defaults: a small per-file limit so that an over-limit upload is cheap,
#: and a long upload timeout so that no job is dropped by the clock during a run.
SETTINGS = {"max_frame_bytes": 2 * MIB, "upload_timeout_s": 3600.0}


class ServerProcess:
    """`stylelock serve` in a subprocess, on a unix socket in `root` or on loopback TCP port 0."""

    def __init__(self, root: Path, shared: Path, transport: str = "unix") -> None:
        config = root / "server.toml"
        lines = [f"{key} = {json.dumps(value)}" for key, value in SETTINGS.items()]
        lines += [
            f"spool_dir = {json.dumps(str(root / 'spool'))}",
            f"state_dir = {json.dumps(str(root / 'state'))}",
            f"allow_roots = [{json.dumps(str(shared))}]",
        ]
        config.write_text("\n".join(lines) + "\n")
        listen = f"unix://{root}/s.sock" if transport == "unix" else "127.0.0.1:0"
        self.log_path = root / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--config", str(config), "--listen", listen],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        first = self.process.stdout.readline()
        if not first.startswith("stylelock server listening on "):
            self.process.kill()
            raise RuntimeError(f"the server did not start: {first!r}; see {self.log_path}")
        self.address = first.split()[-1]
        self.pid = self.process.pid
        threading.Thread(target=self.process.stdout.read, daemon=True).start()  # keep its pipe drained

    def alive(self) -> bool:
        return self.process.poll() is None

    def memory(self) -> tuple[int, int]:
        """Resident bytes of the server process and of its children (the decode workers)."""
        own = _rss(self.pid)
        children = sum(_rss(child) for child in _children(self.pid))
        return own, children

    def stop(self) -> int | None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


class MemoryWatch(threading.Thread):
    """Samples the server's resident memory every `interval` seconds: (seconds, cases done, server
    bytes, decode workers' bytes)."""

    def __init__(self, server: ServerProcess, progress: Callable[[], int], interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.server, self.progress, self.interval = server, progress, interval
        self.samples: list[tuple[float, int, int, int]] = []
        self._halt = threading.Event()
        self._began = time.monotonic()

    def sample(self) -> None:
        own, workers = self.server.memory()
        if own:
            self.samples.append((time.monotonic() - self._began, self.progress(), own, workers))

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


# -- running cases -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    code: str
    """The gRPC status the case ended with ("OK" for a job that finished or a call that succeeded)."""
    message: str = ""


@dataclass
class Run:
    """What the cases share: the server, a client, a raw stub, this run's folders and payloads."""

    server: ServerProcess
    client: StyleLockClient
    stub: pb_grpc.StyleLockStub
    root: Path
    places: dict[str, str]
    corpus: list[CorpusFile]
    frame: bytes
    """A valid small plate frame (the shared plate's first)."""
    seed: int
    mutations: collections.Counter = field(default_factory=collections.Counter)


def _status(error: grpc.RpcError) -> Outcome:
    code = error.code()
    return Outcome(code.name if code is not None else "UNKNOWN", error.details() or "")


def _client_outcome(error: StyleLockError) -> Outcome:
    return Outcome(error.grpc_status, error.message)


def run_exr_upload(run: Run, data: bytes) -> Outcome:
    """Upload one file as the single frame of an inline passthrough job (the real client) and watch
    the job to its end; OK only when the restyled frame came back."""
    case = run.root / "case"
    shutil.rmtree(case, ignore_errors=True)
    (case / "out").mkdir(parents=True)
    (case / "plate.0001.exr").write_bytes(data)
    output = case / "out" / "o.####.exr"
    spec = JobSpec(str(case / "plate.####.exr"), "1", "passthrough", output=OutputSettings(str(output)))
    try:
        job = run.client.submit(spec, inline=True)
        for event in run.client.watch(job):
            if event.kind == FINISHED:
                if not (case / "out" / "o.0001.exr").is_file():
                    return Outcome("FINISHED_WITHOUT_FRAME", event.message)
                return Outcome("OK")
            if event.kind == ERROR:
                return Outcome(event.code or "UNKNOWN", event.message)
            if event.kind in TERMINAL_KINDS:
                return Outcome(event.kind.upper(), event.message)
        return Outcome("WATCH_ENDED_EARLY")
    except StyleLockError as exc:
        return _client_outcome(exc)


def case_exr_mutation(run: Run, index: int) -> tuple[Outcome, str]:
    rng = random.Random(f"{run.seed}:exr_mutation:{index}")
    data, description = mutant(run.corpus, rng)
    for step in description.split("; ")[1:]:
        run.mutations["splice" if step.startswith("body of") else step.split(":")[0]] += 1
    return run_exr_upload(run, data), description


def case_exr_valid(run: Run, index: int) -> tuple[Outcome, str]:
    base = run.corpus[index % len(run.corpus)]
    return run_exr_upload(run, base.data), base.label


def case_spec(run: Run, case: SubmitCase) -> tuple[Outcome, str]:
    text = spec_json(case, run.places)
    request = pb.SubmitJobRequest(
        spec_json=text,
        inline=case.inline,
        plate_frames=list(case.plate_frames),
        idempotency_key=str(render(case.key, run.places)),
    )
    description = f"{'inline' if case.inline else 'shared'} {case.form}: {text[:200]!r}"
    try:
        reply = run.stub.SubmitJob(request, timeout=60)
    except grpc.RpcError as exc:
        return _status(exc), description
    _cancel(run, reply.job_id)  # an accepted job is not left waiting for frames or running
    return Outcome("OK"), description


def _cancel(run: Run, job_id: str) -> None:
    with contextlib.suppress(grpc.RpcError):
        run.stub.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=30)


def _payload(run: Run, name: str, mutant_seed: int) -> bytes:
    frame = run.frame
    if name == "whole":
        return frame
    if name == "head":
        return frame[: len(frame) // 2]
    if name == "tail":
        return frame[len(frame) // 2 :]
    if name == "garbage":
        return random.Random(mutant_seed).randbytes(64)
    if name == "empty":
        return b""
    if name == "magic":
        return MAGIC
    if name == "big":  # over the server's per-file limit (SETTINGS), under its message limit
        return frame + bytes(3 * MIB)
    if name == "oversized":  # over the server's 4 MiB message limit
        return frame + bytes(5 * MIB)
    return mutant(run.corpus, random.Random(mutant_seed))[0]


def case_upload(run: Run, case: UploadCase) -> tuple[Outcome, str]:
    """A protocol-breaking UploadFrames stream for an inline job (raw stub: the client never sends these)."""
    spec = {
        "plate": "/client/plate.####.exr",
        "frames": case.frames,
        "engine": "passthrough",
        "output": {"pattern": "/client/out/o.####.exr"},
    }
    if case.style:
        spec["styles"] = [{"path": "/client/paint.exr", "frame": 1}]
    request = pb.SubmitJobRequest(spec_json=json.dumps(spec), inline=True, plate_frames=[1, 2, 3])
    description = f"frames {case.frames}{' + style' if case.style else ''}: " + ", ".join(
        f"{c.job}/{c.target[0]} {c.target[1]}/#{'next' if c.index is None else c.index}"
        f"{'/last' if c.last else ''}/{c.payload}"
        for c in case.chunks
    )
    try:
        own = run.stub.SubmitJob(request, timeout=60).job_id
        other = ""
        if any(c.job == "other" for c in case.chunks):
            other = run.stub.SubmitJob(request, timeout=60).job_id
    except grpc.RpcError as exc:
        return _status(exc), "submit for an upload case: " + description

    messages = []  # built before the call: the stream itself never fails on our side
    following: dict[tuple[str, int], int] = {}
    for plan in case.chunks:
        job_id = {"own": own, "other": other, "missing": "no-such-job", "empty": ""}[plan.job]
        index = following.get(plan.target, 0) if plan.index is None else plan.index
        index = min(index, 2**31 - 1)
        following[plan.target] = 0 if plan.last else index + 1
        target: dict[str, int] = {}
        if plan.target[0] == "frame":
            target["frame"] = plan.target[1]
        elif plan.target[0] == "style":
            target["style_index"] = plan.target[1]
        data = _payload(run, plan.payload, case.mutant_seed)
        messages.append(pb.UploadChunk(job_id=job_id, chunk_index=index, last=plan.last, data=data, **target))
    try:
        run.stub.UploadFrames(iter(messages), timeout=60)
        outcome = Outcome("OK")
    except grpc.RpcError as exc:
        outcome = _status(exc)
    for job_id in (own, other):
        if job_id:
            _cancel(run, job_id)
    return outcome, description


def case_job_id(run: Run, case: JobIdCase) -> tuple[Outcome, str]:
    job_id = str(render(case.job_id, run.places))
    description = f"{case.method} {job_id[:80]!r}"
    try:
        if case.method == "watch":
            request = pb.WatchJobRequest(job_id=job_id, after_seq=case.after_seq, include_frames=case.include)
            for _ in run.stub.WatchJob(request, timeout=30):
                pass
        elif case.method == "cancel":
            run.stub.CancelJob(pb.CancelJobRequest(job_id=job_id), timeout=30)
        elif case.method == "upload":
            chunk = pb.UploadChunk(job_id=job_id, frame=1, chunk_index=0, last=True, data=run.frame)
            run.stub.UploadFrames(iter([chunk]), timeout=30)
        else:
            run.stub.ListJobs(pb.ListJobsRequest(include_ended=case.include), timeout=30)
    except grpc.RpcError as exc:
        return _status(exc), description
    return Outcome("OK"), description


#: Share of the cases each category gets.
SHARES = {"exr_mutation": 0.50, "exr_valid": 0.04, "spec": 0.26, "upload": 0.12, "job_id": 0.08}
FAILURES = frozenset({"INTERNAL", "UNKNOWN"})


def counts_for(total: int) -> dict[str, int]:
    counts = {name: int(total * share) for name, share in SHARES.items()}
    counts["exr_mutation"] += total - sum(counts.values())
    return counts


def one_human_line(message: str) -> str | None:
    """Why `message` is not one line a person can read (None when it is)."""
    if not message.strip():
        return "empty"
    if "\n" in message:
        return "several lines"
    if len(message) > 1000:
        return f"{len(message)} characters"
    if "Traceback" in message:
        return "a traceback"
    return None


def run_fuzz(
    seed: int,
    counts: dict[str, int],
    root: Path,
    *,
    transport: str = "unix",
    case_timeout_s: float = 120.0,
    rss_limit_mb: float = 1024.0,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Run the cases against a fresh server in `root`; return the result (without provenance)."""
    from stylelock.core.sample import write_sample_plate

    started = time.monotonic()
    (root / "corpus").mkdir()
    corpus = build_corpus(seed, root / "corpus")
    shared = (root / "shared").resolve()
    plate = write_sample_plate(shared, frames="1-3", width=16, height=16)
    frame = Path(plate.replace("####", "0001")).read_bytes()
    drawn = {
        "spec": draw_examples(submit_cases(), counts.get("spec", 0), seed),
        "upload": draw_examples(upload_cases, counts.get("upload", 0), seed),
        "job_id": draw_examples(job_id_cases, counts.get("job_id", 0), seed),
    }
    log(
        f"corpus of {len(corpus)} files and {sum(map(len, drawn.values()))} requests drawn in "
        f"{time.monotonic() - started:.1f} s"
    )
    schedule = [(name, index) for name, count in counts.items() for index in range(count)]
    random.Random(seed).shuffle(schedule)

    server = ServerProcess(root, shared, transport)
    channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", 64 * MIB)])
    client = StyleLockClient(server.address, timeout=60.0)
    run = Run(server, client, pb_grpc.StyleLockStub(channel), root, {}, corpus, frame, seed)
    done = 0
    watch = MemoryWatch(server, lambda: done)
    watch.sample()
    # A finished job whose id the job-id cases name ("{real}").
    real = client.submit(
        JobSpec(plate, "1-3", "passthrough", output=OutputSettings(str(shared / "real" / "r.####.exr")))
    )
    assert [e.kind for e in client.watch(real)][-1] == FINISHED
    # Warm the engines an accepted case may start (an accepted keyframe spec loads its engine once,
    # a step of about 300 MiB); afterwards any rise is the cases' own.
    paint = StyleReference(plate.replace("####", "0001"), 1)
    warm = client.submit(
        JobSpec(
            plate,
            "1-3",
            "keyframe",
            styles=(paint,),
            output=OutputSettings(str(shared / "warm" / "w.####.exr")),
        )
    )
    assert [e.kind for e in client.watch(warm)][-1] == FINISHED
    watch.sample()
    run.places.update({"{shared}": str(shared), "{plate}": plate, "{real}": real})
    watch.start()

    runners: dict[str, Callable[[int], tuple[Outcome, str]]] = {
        "exr_mutation": lambda i: case_exr_mutation(run, i),
        "exr_valid": lambda i: case_exr_valid(run, i),
        "spec": lambda i: case_spec(run, drawn["spec"][i]),
        "upload": lambda i: case_upload(run, drawn["upload"][i]),
        "job_id": lambda i: case_job_id(run, drawn["job_id"][i]),
    }
    statuses: dict[str, collections.Counter] = {name: collections.Counter() for name in counts}
    examples: dict[str, dict[str, dict[str, str]]] = {name: {} for name in counts}
    not_human: list[dict[str, str]] = []
    failures: list[dict[str, Any]] = []
    seconds: dict[str, list[float]] = {name: [] for name in counts}
    hung: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    def watchdog() -> None:  # a case that takes minutes is a hang: record it and stop the server
        while not stop_watchdog.wait(1.0):
            if current and time.monotonic() - current["since"] > case_timeout_s:
                hung.append({"category": current["category"], "index": current["index"]})
                server.process.kill()
                return

    stop_watchdog = threading.Event()
    threading.Thread(target=watchdog, daemon=True).start()
    run_started = time.monotonic()
    crashed: dict[str, Any] | None = None
    for category, index in schedule:
        began = time.monotonic()
        current.update(category=category, index=index, since=began)
        outcome, description = runners[category](index)
        current.clear()
        seconds[category].append(time.monotonic() - began)
        statuses[category][outcome.code] += 1
        done += 1
        example = {
            "case": f"{category}:{index}",
            "input": description[:300],
            "message": outcome.message[:300],
        }
        examples[category].setdefault(outcome.code, example)
        if outcome.code != "OK" and (why := one_human_line(outcome.message)):
            not_human.append({**example, "why": why})
        if outcome.code in FAILURES:
            failures.append(example)
        if not server.alive():
            crashed = {**example, "exit_status": server.process.returncode}
            saved = root / f"crash_{category}_{index}.bin"
            if category.startswith("exr"):
                shutil.copy(root / "case" / "plate.0001.exr", saved)
            break
        if done % 500 == 0:
            own, workers = server.memory()
            log(
                f"{done}/{len(schedule)} cases, {time.monotonic() - run_started:.0f} s, server RSS "
                f"{own / MIB:.0f} MiB (+{workers / MIB:.0f} MiB decode workers)"
            )
    wall = time.monotonic() - run_started
    stop_watchdog.set()
    watch.stop()
    health = ""
    if server.alive():
        try:
            health = client.health()
        except StyleLockError as exc:
            health = f"no answer: {exc.message}"
    same_process = server.alive() and server.process.pid == server.pid
    client.close()
    channel.close()
    exit_status = server.stop()
    server_log = server.log_path.read_text(errors="replace")
    memory = memory_summary(watch.samples, rss_limit_mb)
    total = sum(sum(c.values()) for c in statuses.values())
    result = {
        "seed": seed,
        "transport": transport,
        "server_settings": SETTINGS,
        "cases": {"total": total, "by_category": {name: sum(c.values()) for name, c in statuses.items()}},
        "status_counts": {name: dict(sorted(c.items())) for name, c in statuses.items()},
        "status_totals": dict(sorted(sum(statuses.values(), collections.Counter()).items())),
        "internal_or_unknown": len(failures),
        "internal_or_unknown_cases": failures[:20],
        "messages_not_one_human_line": len(not_human),
        "messages_not_one_human_line_cases": not_human[:20],
        "crash": crashed,
        "hangs": hung,
        "health_at_end": health,
        "same_process_at_end": same_process,
        "server_exit_status_after_sigterm": exit_status,
        "server_log": {
            "tracebacks": server_log.count("Traceback"),
            "unexpected_errors": server_log.count("unexpected error"),
        },
        "memory": memory,
        "wall_seconds": round(wall, 1),
        "ms_per_case": {name: round(1000 * statistics.mean(v), 1) for name, v in seconds.items() if v},
        "slowest_case_seconds": {name: round(max(v), 2) for name, v in seconds.items() if v},
        "mutations_applied": dict(sorted(run.mutations.items())),
        "corpus": [f.label for f in corpus],
        "examples": examples,
    }
    result["passed"] = bool(
        total == sum(counts.values())
        and not failures
        and not crashed
        and not hung
        and health == "SERVING"
        and same_process
        and memory["bounded"]
        and not not_human
    )
    return result


def memory_summary(samples: list[tuple[float, int, int, int]], limit_mb: float) -> dict[str, Any]:
    """Start, peak and end resident memory, and the trend over the last half of the run.

    The first sample is the server just started, the second after the warm-up (the passthrough and
    keyframe engines loaded, as any accepted case may load them once). Bounded: the peak (server
    and decode workers together) stays below `limit_mb`, and the last
    half shows no upward trend: the median of its last quarter of samples is no more than 5% (or
    16 MiB, whichever is larger) above the median of its first quarter, and the least-squares slope
    over the last half is reported per 1000 cases."""
    totals = [(cases, (own + workers) / MIB, own / MIB) for _, cases, own, workers in samples]
    server = [own for _, _, own in totals]
    together = [t for _, t, _ in totals]
    half = totals[len(totals) // 2 :]
    quarter = max(1, len(half) // 2)
    early, late = (
        statistics.median(t for _, t, _ in half[:quarter]),
        statistics.median(t for _, t, _ in half[quarter:] or half),
    )
    xs, ys = [c for c, _, _ in half], [t for _, t, _ in half]
    slope = 0.0
    if len(set(xs)) > 1:
        mean_x, mean_y = statistics.mean(xs), statistics.mean(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mean_x) ** 2 for x in xs
        )
    growth = late - early
    step = max(1, len(samples) // 200)
    return {
        "limit_mb": limit_mb,
        "server_rss_mb": {
            "start": round(server[0], 1),
            "after_warm_up": round(server[1], 1),
            "peak": round(max(server), 1),
            "end": round(server[-1], 1),
        },
        "with_decode_workers_mb": {
            "start": round(together[0], 1),
            "after_warm_up": round(together[1], 1),
            "peak": round(max(together), 1),
            "end": round(together[-1], 1),
        },
        "last_half": {
            "first_quarter_median_mb": round(early, 1),
            "last_quarter_median_mb": round(late, 1),
            "growth_mb": round(growth, 1),
            "slope_mb_per_1000_cases": round(1000 * slope, 2),
        },
        "bounded": max(together) < limit_mb and growth <= max(16.0, 0.05 * early),
        "samples": len(samples),
        "trace": [[round(t, 1), c, round(o / MIB, 1), round(w / MIB, 1)] for t, c, o, w in samples[::step]],
    }


def main(argv: list[str] | None = None) -> int:
    from provenance import stamp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--cases", type=int, default=12_000)
    parser.add_argument("--quick", action="store_true", help="300 cases, result not written unless --out")
    parser.add_argument("--transport", choices=("unix", "tcp"), default="unix")
    parser.add_argument("--rss-limit-mb", type=float, default=1024.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    total = 300 if args.quick else args.cases
    out = args.out or (None if args.quick else Path(__file__).parent / "results" / "fuzz.json")
    measured = stamp("bench/fuzz.py", MEASURES)  # before running: an edit meanwhile shows as stale
    with tempfile.TemporaryDirectory(prefix="sl-fuzz-", dir="/tmp") as temp:
        result = run_fuzz(
            args.seed,
            counts_for(total),
            Path(temp),
            transport=args.transport,
            rss_limit_mb=args.rss_limit_mb,
            log=lambda line: print(line, flush=True),
        )
    result = {
        "provenance": measured,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
        **result,
    }
    summary = {
        key: result[key]
        for key in (
            "cases",
            "status_totals",
            "internal_or_unknown",
            "crash",
            "hangs",
            "health_at_end",
            "same_process_at_end",
            "wall_seconds",
            "passed",
        )
    }
    summary["memory"] = {
        k: result["memory"][k] for k in ("server_rss_mb", "with_decode_workers_mb", "last_half", "bounded")
    }
    print(json.dumps(summary, indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
