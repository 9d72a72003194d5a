"""EXR read/write through OpenImageIO: real files, every bar of issue 2 that concerns the file layer."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
from exr_fixtures import (
    Attr,
    random_plate_channels,
    raw_headers,
    read_native,
    same_bits,
    write_test_exr,
)

from stylelock.core.errors import CorruptFrameError, FramesMissingError, OutputError, SpecError
from stylelock.core.exr import (
    KNOWN_COMPRESSIONS,
    LOSSY_COMPRESSIONS,
    ExrImage,
    ExrPart,
    Window,
    output_compression,
    read_exr,
    read_exr_header,
    set_rgb,
    write_exr,
)
from stylelock.core.exr import write as exr_write

H, W = 48, 64


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def assert_same_channels(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, values in want.items():
        assert got[name].dtype == values.dtype, name
        assert same_bits(got[name], values), f"channel {name} changed"


def bit_pattern_channels() -> dict[str, np.ndarray]:
    """All 65536 half patterns, random float32 patterns with NaN payloads/Inf/-0/denormals, uint32 edges."""
    rng = np.random.default_rng(7)
    half = np.arange(65536, dtype=np.uint16).view(np.float16).reshape(256, 256)
    floats = rng.integers(0, 2**32, (256, 256), dtype=np.uint64).astype(np.uint32)
    floats[0, :8] = [0x7F800001, 0x7FC00001, 0xFF800001, 0x7F800000, 0xFF800000, 0x80000000, 1, 0x7FFFFFFF]
    uints = rng.integers(0, 2**32, (256, 256), dtype=np.uint64).astype(np.uint32)
    uints[0, :6] = [0, 1, 2**24 + 1, 2**32 - 1, 2**32 - 2, 2**31]
    return {"h": half, "f": floats.view(np.float32), "u": uints}


# ---------------------------------------------------------------- channels bit-exact


@pytest.mark.parametrize("colour_dtype", [np.float16, np.float32])
def test_plate_channels_read_and_write_back_bit_exact(tmp_path: Path, colour_dtype: type) -> None:
    channels = random_plate_channels(H, W, seed=3, colour_dtype=colour_dtype)
    src = write_test_exr(tmp_path / "in.exr", channels)
    image = read_exr(src)
    assert image.path == src and len(image.parts) == 1
    assert_same_channels(image.main.pixels, channels)
    assert image.main.channel_formats["id"] == "uint"
    assert image.main.pixels["id"].max() > 2**24

    out = tmp_path / "out.exr"
    write_exr(out, image)
    assert_same_channels(read_native(out)[0], channels)  # checked with plain OIIO, not read_exr
    assert raw_headers(out)[0]["channels"] == raw_headers(src)[0]["channels"]


@pytest.mark.parametrize(
    ("compression", "tile"), [("zip", None), ("piz", None), ("none", (64, 32)), ("rle", (32, 32))]
)
def test_every_bit_pattern_survives_in_a_mixed_part(
    tmp_path: Path, compression: str, tile: tuple | None
) -> None:
    channels = bit_pattern_channels()
    src = write_test_exr(tmp_path / "in.exr", channels, compression=compression, tile=tile)
    image = read_exr(src)
    assert_same_channels(image.main.pixels, channels)
    write_exr(tmp_path / "out.exr", image)
    assert_same_channels(read_native(tmp_path / "out.exr")[0], channels)
    assert raw_headers(tmp_path / "out.exr")[0]["channels"] == {"h": "half", "f": "float", "u": "uint"}


@pytest.mark.parametrize("kind", ["h", "f", "u"])
def test_single_type_parts_are_exact(tmp_path: Path, kind: str) -> None:
    source = bit_pattern_channels()[kind]
    channels = {"a": source, "b": source[::-1].copy()}
    image = read_exr(write_test_exr(tmp_path / "in.exr", channels))
    write_exr(tmp_path / "out.exr", image)
    assert_same_channels(read_native(tmp_path / "out.exr")[0], channels)


def test_nan_and_inf_in_colour_channels_survive(tmp_path: Path) -> None:
    channels = random_plate_channels(H, W, seed=5, with_uint=False)
    channels["R"][0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    channels["depth.Z"][1, :3] = [np.inf, np.nan, -np.inf]
    image = read_exr(write_test_exr(tmp_path / "in.exr", channels))
    rgb = image.main.rgb()
    assert np.isnan(rgb[0, 0, 0]) and rgb[0, 1, 0] == np.inf and rgb[0, 2, 0] == -np.inf
    write_exr(tmp_path / "out.exr", image)
    assert_same_channels(read_native(tmp_path / "out.exr")[0], channels)


def test_uint_retyping_copes_with_headers_larger_than_the_first_read(tmp_path: Path) -> None:
    channels = bit_pattern_channels()
    note = "x" * 300_000  # the header no longer fits the raw header reader's first 64 KiB
    image = read_exr(write_test_exr(tmp_path / "in.exr", channels, attributes={"note": note}))
    write_exr(tmp_path / "out.exr", image, compression="b44a")  # B44 stores 32-bit channels as they are
    native = read_native(tmp_path / "out.exr")[0]
    assert same_bits(native["u"], channels["u"]) and same_bits(native["f"], channels["f"])
    assert raw_headers(tmp_path / "out.exr")[0]["note"] == ("string", note.encode())


def test_uint_in_a_mixed_part_with_an_unsafe_codec_is_written_with_zip(tmp_path: Path, caplog) -> None:
    channels = bit_pattern_channels()
    image = read_exr(write_test_exr(tmp_path / "in.exr", channels))
    with caplog.at_level(logging.WARNING):
        write_exr(tmp_path / "out.exr", image, compression="pxr24")
    assert "pxr24" in caplog.text and "u" in caplog.text
    assert read_exr_header(tmp_path / "out.exr").main.compression == "zip"
    assert_same_channels(read_native(tmp_path / "out.exr")[0], channels)


def test_writing_in_small_bands_is_exact_for_scanline_tiled_and_decreasing_y(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(exr_write, "BAND_BYTES", 1000)  # a few rows per band: many bands per part
    channels = random_plate_channels(H, W, seed=9)
    cases = {
        "scan": {},
        "tiled": {"tile": (16, 8)},
        "down": {"attributes": {"openexr:lineOrder": "decreasingY"}, "compression": "piz"},
    }
    for label, kwargs in cases.items():
        image = read_exr(
            write_test_exr(tmp_path / f"{label}.exr", channels, data_window=(-3, -5, W, H), **kwargs)
        )
        write_exr(tmp_path / f"{label}_out.exr", image)
        assert_same_channels(read_native(tmp_path / f"{label}_out.exr")[0], channels)
    assert raw_headers(tmp_path / "down_out.exr")[0]["lineOrder"] == ("lineOrder", b"\x01")


# ---------------------------------------------------------------- windows, aspect, tiles, parts


def test_overscan_windows_pixel_aspect_and_tiles_survive(tmp_path: Path) -> None:
    channels = random_plate_channels(H, W, seed=11)
    src = write_test_exr(
        tmp_path / "in.exr",
        channels,
        data_window=(-8, -4, W, H),
        display_window=(0, 0, W - 16, H - 8),
        pixel_aspect=2.0,
        compression="piz",
        tile=(16, 16),
    )
    part = read_exr(src).main
    assert part.data_window == Window(-8, -4, W, H)
    assert part.display_window == Window(0, 0, W - 16, H - 8)
    assert part.pixel_aspect == 2.0 and part.tile_size == (16, 16) and part.compression == "piz"
    assert_same_channels(part.pixels, channels)

    out = tmp_path / "out.exr"
    write_exr(out, read_exr(src))
    before, after = raw_headers(src)[0], raw_headers(out)[0]
    for key in ("dataWindow", "displayWindow", "pixelAspectRatio", "tiles", "compression", "channels"):
        assert after[key] == before[key], key
    assert_same_channels(read_native(out)[0], channels)


@pytest.mark.parametrize("tiles", [(None, None), ((16, 16), (32, 8))])
def test_multipart_files_keep_every_part_and_name(tmp_path: Path, tiles: tuple) -> None:
    aovs = {k: v for k, v in random_plate_channels(H, W, seed=2).items() if "." in k or k == "id"}
    beauty = {k: v for k, v in random_plate_channels(H // 2, W // 2, seed=4).items() if k in "RGBA"}
    src = write_test_exr(
        tmp_path / "in.exr",
        aovs,
        name="aovs",
        compression="piz",
        tile=tiles[0],
        data_window=(-4, -4, W, H),
        display_window=(0, 0, W, H),  # OpenEXR: parts share the display window and pixel aspect
        parts=[
            dict(
                channels=beauty,
                name="beauty",
                tile=tiles[1],
                data_window=(10, 6, W // 2, H // 2),
                display_window=(0, 0, W, H),
            )
        ],
    )
    image = read_exr(src)
    assert [p.name for p in image.parts] == ["aovs", "beauty"]
    assert image.main.name == "beauty"  # the part with unprefixed RGB, though it comes second
    assert [p.tile_size for p in image.parts] == list(tiles)
    out = tmp_path / "out.exr"
    write_exr(out, image, extra_attributes={"stylelock:engine": "passthrough"})
    native = read_native(out)
    assert_same_channels(native[0], aovs)
    assert_same_channels(native[1], beauty)
    again = read_exr_header(out)
    assert [p.name for p in again.parts] == ["aovs", "beauty"]
    assert [p.data_window for p in again.parts] == [Window(-4, -4, W, H), Window(10, 6, W // 2, H // 2)]
    assert all(p.attributes["stylelock:engine"] == "passthrough" for p in again.parts)
    assert [p.compression for p in again.parts] == ["piz", "zip"]


def test_mip_mapped_input_is_read_at_level_0_and_written_single_level(tmp_path: Path, caplog) -> None:
    import OpenImageIO as oiio

    pixels = np.random.default_rng(1).random((H, W, 4)).astype(np.float16)
    buf = oiio.ImageBuf(oiio.ImageSpec(W, H, 4, "half"))
    assert buf.set_pixels(oiio.ROI(0, W, 0, H, 0, 1, 0, 4), pixels)
    texture = str(tmp_path / "tex.exr")
    assert oiio.ImageBufAlgo.make_texture(oiio.MakeTxTexture, buf, texture, oiio.ImageSpec()), oiio.geterror()
    image = read_exr(texture)
    assert same_bits(np.stack([image.main.pixels[c] for c in "RGBA"], axis=-1), pixels)
    with caplog.at_level(logging.WARNING):
        write_exr(tmp_path / "out.exr", image)
    assert "textureformat" in caplog.text
    out = oiio.ImageInput.open(str(tmp_path / "out.exr"))
    assert out.spec().get_int_attribute("oiio:miplevels", 1) == 1 and out.spec().tile_width > 0
    out.close()
    assert same_bits(np.stack([read_native(tmp_path / "out.exr")[0][c] for c in "RGBA"], axis=-1), pixels)


def test_header_read_matches_full_read_without_pixels(tmp_path: Path) -> None:
    src = write_test_exr(tmp_path / "in.exr", random_plate_channels(H, W, seed=1), data_window=(-2, -2, W, H))
    full, header = read_exr(src).main, read_exr_header(src).main
    assert header.pixels == {}
    for field in ("channels", "data_window", "display_window", "pixel_aspect", "compression", "tile_size"):
        assert getattr(header, field) == getattr(full, field), field
    assert header.attributes == full.attributes and header.channel_formats == full.channel_formats


# ---------------------------------------------------------------- compression


def smooth_channels(height: int, width: int) -> dict[str, np.ndarray]:
    """Smooth HDR gradients (0.01 to 100): what lossy codecs are made for."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 10.0 ** (4.0 * x / width - 2.0)
    out = {c: (base * (1.0 + 0.2 * i * y / height)).astype(np.float16) for i, c in enumerate("RGB")}
    out["depth.Z"] = (1.0 + x + y).astype(np.float32)
    return out


@pytest.mark.parametrize("compression", sorted(KNOWN_COMPRESSIONS))
def test_every_compression_reads_and_writes_under_its_name(tmp_path: Path, compression: str) -> None:
    channels = random_plate_channels(H, W, seed=6, with_uint=False)
    if compression in LOSSY_COMPRESSIONS:
        channels = smooth_channels(H, W)
    image = read_exr(write_test_exr(tmp_path / "in.exr", channels, compression=compression))
    part = image.main
    assert part.compression == compression
    if compression in LOSSY_COMPRESSIONS:
        rgb = np.stack([channels[c].astype(np.float32) for c in "RGB"], axis=-1)
        assert np.median(np.abs(part.rgb() - rgb) / rgb) < 0.02
    elif compression == "pxr24":  # 24-bit floats; half channels exact
        assert_same_channels(
            {k: v for k, v in part.pixels.items() if v.dtype == np.float16},
            {k: v for k, v in channels.items() if v.dtype == np.float16},
        )
        assert np.allclose(part.pixels["depth.Z"], channels["depth.Z"], rtol=2**-15, atol=0)
    else:
        assert_same_channels(part.pixels, channels)
    decoded = {k: v.copy() for k, v in part.pixels.items()}
    write_exr(tmp_path / "out.exr", image, compression=compression)
    assert read_exr_header(tmp_path / "out.exr").main.compression == compression
    if compression not in LOSSY_COMPRESSIONS:  # pxr24 included: re-encoding changes nothing
        assert_same_channels(read_native(tmp_path / "out.exr")[0], decoded)


@pytest.mark.parametrize("lossy", ["dwaa", "dwab", "b44", "b44a"])
def test_lossy_input_is_written_lossless_by_default_and_exactly(tmp_path: Path, lossy: str) -> None:
    image = read_exr(
        write_test_exr(
            tmp_path / "in.exr", random_plate_channels(H, W, 8, with_uint=False), compression=lossy
        )
    )
    decoded = {k: v.copy() for k, v in image.main.pixels.items()}
    write_exr(tmp_path / "out.exr", image)
    assert read_exr_header(tmp_path / "out.exr").main.compression == "zip"
    assert_same_channels(read_native(tmp_path / "out.exr")[0], decoded)


def test_piz_output_requested_for_a_dwaa_input_is_bit_exact(tmp_path: Path) -> None:
    image = read_exr(write_test_exr(tmp_path / "in.exr", random_plate_channels(H, W, 8), compression="zip"))
    image.main.compression = "dwaa:45"
    decoded = {k: v.copy() for k, v in image.main.pixels.items()}
    write_exr(tmp_path / "out.exr", image, compression="piz")
    assert read_exr_header(tmp_path / "out.exr").main.compression == "piz"
    assert_same_channels(read_native(tmp_path / "out.exr")[0], decoded)


def test_output_compression_policy() -> None:
    assert sorted(LOSSY_COMPRESSIONS) == ["b44", "b44a", "dwaa", "dwab"]
    for lossy in ("dwaa", "dwab", "b44", "b44a", "dwaa:45", "DWAB:100"):
        assert output_compression(lossy, None) == "zip"
    for lossless in ("zip", "piz", "none", "rle", "zips", "pxr24", "zip:9"):
        assert output_compression(lossless, None) == lossless
    assert output_compression("dwaa", "dwab") == "dwab"  # an explicit request wins, lossy or not
    assert output_compression("zip", "PIZ") == "piz"
    assert output_compression("piz", "dwaa:45") == "dwaa:45"
    with pytest.raises(SpecError, match=r"'zipp'.*did you mean zip"):
        output_compression("zip", "zipp")
    with pytest.raises(SpecError, match="level"):
        output_compression("zip", "dwaa:fast")


# ---------------------------------------------------------------- header attributes

ATTRIBUTES = {
    "shot": "sh010",
    "take": 7,
    "exposure": 1.5,
    "camMatrix": Attr("matrix", tuple(float(i) / 3 for i in range(16))),
    "rot": Attr("matrix33", tuple(float(i) for i in range(9))),
    "up": Attr("vector", (0.0, 1.0, 0.0)),
    "offset": Attr("float2", (0.25, -0.5)),
    "tags": Attr("string[2]", ("hero", "fg")),
    "chromaticities": Attr("float[8]", (0.713, 0.293, 0.165, 0.83, 0.128, 0.044, 0.32168, 0.33767)),
    "FramesPerSecond": Attr("rational", (24000, 1001)),
    "smpte:TimeCode": Attr("timecode", (0x01020304, 0)),
    "smpte:KeyCode": Attr("keycode", (1, 2, 3, 4, 5, 6, 7)),
    "region": Attr("box2i", (0, 0, 10, 20)),
    "Copyright": "studio",
    "colorInteropID": "lin_ap1_scene",
    "DateTime": "2026:01:02 03:04:05",
}


def test_header_attributes_round_trip_identically(tmp_path: Path) -> None:
    src = write_test_exr(tmp_path / "in.exr", random_plate_channels(H, W, seed=1), attributes=ATTRIBUTES)
    image = read_exr(src)
    attributes = image.main.attributes
    assert attributes["camMatrix"] == pytest.approx(tuple(float(i) / 3 for i in range(16)))
    assert attributes["FramesPerSecond"] == (24000, 1001) and attributes["smpte:TimeCode"] == (0x01020304, 0)
    assert "oiio:ColorSpace" not in attributes  # OIIO derives it from colorInteropID; not a header attribute
    out = tmp_path / "out.exr"
    write_exr(out, image)
    assert read_exr(out).main.attributes == attributes
    before, after = raw_headers(src)[0], raw_headers(out)[0]
    assert after == before  # what the files really store, byte for byte, every attribute


def test_provenance_is_added_and_code_set_attributes_get_sensible_types(tmp_path: Path) -> None:
    part = ExrPart(
        channels=["R", "G", "B"],
        pixels={c: np.full((8, 8), i, np.float16) for i, c in enumerate("RGB")},
        data_window=Window(0, 0, 8, 8),
        display_window=Window(0, 0, 8, 8),
        pixel_aspect=1.0,
        compression="zip",
        tile_size=None,
        attributes={"m": np.eye(4, dtype=np.float32), "v2": (1, 2), "v3": (1.0, 2.0, 3.0), "n": np.int64(3)},
    )
    out = tmp_path / "new.exr"
    write_exr(
        out, ExrImage([part]), extra_attributes={"stylelock:engine": "passthrough", "stylelock:seed": 42}
    )
    raw = raw_headers(out)[0]
    assert {k: raw[k][0] for k in ("m", "v2", "v3", "n", "stylelock:engine", "stylelock:seed")} == {
        "m": "m44f",
        "v2": "v2i",
        "v3": "v3f",
        "n": "int",
        "stylelock:engine": "string",
        "stylelock:seed": "int",
    }
    assert "capDate" not in raw  # OIIO's "now" stamp is suppressed: re-runs give identical bytes
    first = out.read_bytes()
    write_exr(
        out, ExrImage([part]), extra_attributes={"stylelock:engine": "passthrough", "stylelock:seed": 42}
    )
    assert out.read_bytes() == first


def test_colour_space_tags_round_trip_without_oiio_rewriting_them(tmp_path: Path, caplog) -> None:
    channels = random_plate_channels(8, 8, seed=1, with_uint=False)
    # A raw oiio:ColorSpace header attribute, as another tool may write it: OIIO 3.2 never writes
    # that name itself, so write a same-length name and rename it in the bytes.
    src = write_test_exr(
        tmp_path / "raw.exr", channels, attributes={"xxxx:ColorSpace": "ACEScg", "DateTime": ""}
    )
    data = Path(src).read_bytes()
    Path(src).write_bytes(data.replace(b"xxxx:ColorSpace", b"oiio:ColorSpace"))
    image = read_exr(src)
    assert image.main.attributes["oiio:ColorSpace"] == "ACEScg"
    with caplog.at_level(logging.WARNING):
        write_exr(tmp_path / "raw_out.exr", image)
    assert "oiio:ColorSpace" in caplog.text
    raw = raw_headers(tmp_path / "raw_out.exr")[0]
    assert "oiio:ColorSpace" not in raw and "colorInteropID" not in raw  # nothing invented

    # A colour tag asked for by code under OIIO's name is not silently turned into another one.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        write_exr(tmp_path / "asked.exr", read_exr(src), extra_attributes={"oiio:ColorSpace": "MySpace"})
    assert "colorInteropID" not in raw_headers(tmp_path / "asked.exr")[0] and "MySpace" in caplog.text


def test_attributes_oiio_cannot_write_are_reported(tmp_path: Path, caplog) -> None:
    image = read_exr(write_test_exr(tmp_path / "in.exr", random_plate_channels(8, 8, 1, with_uint=False)))
    with caplog.at_level(logging.WARNING):
        write_exr(tmp_path / "out.exr", image, extra_attributes={"quad": (1, 2, 3, 4)})
    assert "quad" in caplog.text and "quad" not in raw_headers(tmp_path / "out.exr")[0]


# ---------------------------------------------------------------- ExrPart helpers


def test_rgb_alpha_and_channel_float(tmp_path: Path) -> None:
    channels = random_plate_channels(H, W, seed=1)
    channels.update({f"diffuse.{c}": channels[c].copy() for c in "RGB"})
    part = read_exr(write_test_exr(tmp_path / "in.exr", channels)).main
    rgb = part.rgb()
    assert rgb.dtype == np.float32 and rgb.shape == (H, W, 3)
    assert np.array_equal(rgb[..., 1], channels["G"].astype(np.float32))
    rgb[...] = 0  # a copy: the part is untouched
    assert same_bits(part.pixels["G"], channels["G"])
    assert np.array_equal(part.rgb("diffuse"), part.rgb())
    assert part.alpha().dtype == np.float32 and part.alpha("diffuse") is None
    assert part.rgb_layers() == ["", "crypto00", "diffuse"]
    with pytest.raises(SpecError, match=r"layer 'specular'.*'', 'crypto00', 'diffuse'"):
        part.rgb("specular")
    assert part.channel_float("depth.Z") is part.pixels["depth.Z"]
    assert part.channel_float("N.X").dtype == np.float32
    with pytest.raises(SpecError, match="'nope'"):
        part.channel_float("nope")


def test_set_rgb_rounds_to_each_channels_native_type(tmp_path: Path) -> None:
    channels = random_plate_channels(H, W, seed=1)
    channels["diffuse.R"], channels["diffuse.G"], channels["diffuse.B"] = (
        channels["depth.Z"].copy(),
        channels["R"].copy(),
        channels["depth.Z"].copy(),
    )
    image = read_exr(write_test_exr(tmp_path / "in.exr", channels))
    part = image.main
    new = np.random.default_rng(0).uniform(-10, 10, (H, W, 3)).astype(np.float32)
    set_rgb(part, new)
    set_rgb(part, new, "diffuse")
    assert same_bits(part.pixels["R"], new[..., 0].astype(np.float16))
    assert same_bits(part.pixels["diffuse.R"], new[..., 0]) and part.pixels["diffuse.G"].dtype == np.float16
    write_exr(tmp_path / "out.exr", image)
    native = read_native(tmp_path / "out.exr")[0]
    assert same_bits(native["G"], new[..., 1].astype(np.float16)) and same_bits(native["id"], channels["id"])
    with pytest.raises(SpecError, match="shape"):
        set_rgb(part, new[:-1])
    with pytest.raises(SpecError, match="layers with RGB"):
        set_rgb(part, new, "spec")


def test_main_is_the_part_with_unprefixed_rgb_else_the_first() -> None:
    def part(names: list[str]) -> ExrPart:
        return ExrPart(names, {}, Window(0, 0, 1, 1), Window(0, 0, 1, 1), 1.0, "zip", None, {})

    a, b = part(["depth.Z"]), part(["R", "G", "B"])
    assert ExrImage([a, b]).main is b
    assert ExrImage([a, part(["x.R", "x.G", "x.B"])]).main is a


# ---------------------------------------------------------------- bad input


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    return Path(write_test_exr(tmp_path / "good.exr", random_plate_channels(H, W, seed=1)))


@pytest.mark.parametrize("tile", [None, (16, 16)])
def test_truncated_file_is_a_corrupt_frame(tmp_path: Path, tile: tuple | None) -> None:
    path = Path(write_test_exr(tmp_path / "cut.exr", random_plate_channels(H, W, seed=1), tile=tile))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFrameError, match=re.escape(f"cannot decode part 0 of {path}")):
        read_exr(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello, I am a text file\n" * 20, "cannot open EXR file"),
        (b"", r"is empty \(0 bytes\)"),
        (b"\x76\x2f\x31\x01\x02\x00", "cannot open EXR file"),
    ],
)
def test_garbage_files_are_corrupt_frames(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.exr"
    path.write_bytes(content)
    for reader in (read_exr, read_exr_header):
        with pytest.raises(CorruptFrameError, match=message) as caught:
            reader(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_an_image_of_another_format_named_exr_is_refused(tmp_path: Path) -> None:
    import OpenImageIO as oiio

    png = tmp_path / "x.png"
    buf = oiio.ImageBuf(oiio.ImageSpec(4, 4, 3, "uint8"))
    assert buf.write(str(png))
    disguised = tmp_path / "plate.exr"
    disguised.write_bytes(png.read_bytes())
    with pytest.raises(CorruptFrameError, match=r"not an OpenEXR file.*png"):
        read_exr(disguised)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(FramesMissingError, match=r"missing\.exr"):
        read_exr(tmp_path / "missing.exr")
    (tmp_path / "dir.exr").mkdir()
    with pytest.raises(CorruptFrameError, match="is a folder"):
        read_exr_header(tmp_path / "dir.exr")


# ---------------------------------------------------------------- atomic writes


def test_missing_output_folder_is_created(tmp_path: Path, good_file: Path) -> None:
    out = tmp_path / "a" / "b" / "out.exr"
    write_exr(out, read_exr(good_file))
    assert read_exr_header(out).main.channels == read_exr_header(good_file).main.channels
    assert leftovers(out.parent) == []


def test_unwritable_location_raises_output_error_and_leaves_nothing(tmp_path: Path, good_file: Path) -> None:
    image = read_exr(good_file)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(
        OutputError, match=re.escape(f"cannot write {blocker / 'out.exr'}: cannot create folder")
    ):
        write_exr(blocker / "out.exr", image)  # fails even for root, unlike a chmod
    (tmp_path / "taken.exr").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_exr(tmp_path / "taken.exr", image)
    if os.geteuid() != 0:  # permissions mean nothing to root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputError, match="locked"):
            write_exr(locked / "out.exr", image)
        assert list(locked.iterdir()) == []
    assert leftovers(tmp_path) == []


def test_bad_pixels_are_refused_before_anything_is_written(tmp_path: Path, good_file: Path) -> None:
    image = read_exr(good_file)
    image.main.pixels["depth.Z"] = image.main.pixels["depth.Z"].astype(np.float64)
    with pytest.raises(OutputError, match=r"channel 'depth.Z' is float64"):
        write_exr(tmp_path / "out.exr", image)
    image.main.pixels["depth.Z"] = np.zeros((H - 1, W), np.float32)
    with pytest.raises(OutputError, match=r"'depth.Z' has shape \(47, 64\)"):
        write_exr(tmp_path / "out.exr", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.exr"]


@pytest.mark.parametrize("existing", [False, True])
def test_a_failure_mid_write_leaves_no_temp_file_and_the_old_output_untouched(
    tmp_path: Path, good_file: Path, monkeypatch, existing: bool
) -> None:
    image = read_exr(good_file)
    out = tmp_path / "out" / "frame.1001.exr"
    if existing:
        write_exr(out, image)
    before = out.read_bytes() if existing else None
    seen: list[str] = []

    def fail(*args: object) -> None:
        seen.extend(leftovers(out.parent))
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(exr_write, "_write_part_pixels", fail)
    with pytest.raises(OutputError, match=re.escape(f"cannot write {out}: disk on fire")):
        write_exr(out, image)
    assert len(seen) == 1 and seen[0].startswith(".frame.1001.exr.")  # the temp file existed
    assert leftovers(out.parent) == []
    assert (out.read_bytes() if existing else out.exists()) == (before if existing else False)


def test_ctrl_c_mid_write_removes_the_temp_file_and_propagates(
    tmp_path: Path, good_file: Path, monkeypatch
) -> None:
    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    image = read_exr(good_file)
    monkeypatch.setattr(exr_write, "_write_part_pixels", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_exr(tmp_path / "out.exr", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.exr"]
