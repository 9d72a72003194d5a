"""The colour and transport round trip through real OIIO and OCIO.

The passthrough engine returns every plate as it came: RGB max relative error <= 1e-4; every other
channel bit-exact; windows, pixel aspect, tiling and header attributes identical (StyleLock adds
only its own `stylelock:*` provenance). An unchanged model would come back so whatever the inverse
colour transform did, so the inverse is proven by an engine that changes the picture by a known
amount, against OCIO's own forward and inverse (`colour_reference`).
"""

from __future__ import annotations

import numpy as np
import pytest
from colour_reference import assert_halved, write_reference_plate
from exr_fixtures import Attr, random_plate_channels, raw_headers, read_native, same_bits, write_test_exr
from pipeline_engines import HalveEngine, IdentityCopyEngine

from stylelock.core.colour import codec as colour_codec
from stylelock.core.exr import read_exr, read_exr_header
from stylelock.core.jobspec import ColourSettings, JobSpec, OutputSettings
from stylelock.core.sample import write_sample_plate
from stylelock.server.engines import BUILTIN_ENGINES
from stylelock.server.pipeline import run_job

FRAMES = (1001, 1002)
PROVENANCE = {
    f"stylelock:{key}"
    for key in ("version", "engine", "params", "styles", "colour", "pixelHash", "frame", "proxy", "mask")
}
ATTRIBUTES = {
    "shot": "sh010",
    "owner": "comp",
    "framesPerSecond": Attr("rational", (24, 1)),
    "camMatrix": Attr("matrix", tuple(float(i) for i in range(16))),
    "focus": 3.5,
    "takes": 7,
}


def max_relative_error(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = expected.astype(np.float64)
    actual = actual.astype(np.float64)
    finite = np.isfinite(expected)
    assert np.array_equal(np.isnan(expected), np.isnan(actual))
    assert np.array_equal(expected[np.isinf(expected)], actual[np.isinf(expected)])
    error = np.abs(actual[finite] - expected[finite]) / np.maximum(np.abs(expected[finite]), 1e-4)
    return float(error.max(initial=0.0))


def passthrough(plate: str, out: str, engine: str = "passthrough", **spec_changes) -> None:
    spec = JobSpec(
        plate=plate,
        frames=",".join(map(str, FRAMES)),
        engine=engine,
        output=OutputSettings(pattern=out),
        **spec_changes,
    )
    run_job(spec)


def assert_round_trip(plate_path: str, out_path: str, *, colour=("R", "G", "B"), compression=None) -> None:
    plate_parts = read_native(plate_path)
    out_parts = read_native(out_path)
    assert [list(p) for p in out_parts] == [list(p) for p in plate_parts]
    for plate_channels, out_channels in zip(plate_parts, out_parts, strict=True):
        for name, values in plate_channels.items():
            if name in colour and plate_channels is plate_parts[0]:
                assert out_channels[name].dtype == values.dtype
                assert max_relative_error(values, out_channels[name]) <= 1e-4, name
            else:
                assert same_bits(values, out_channels[name]), name
    plate_headers = raw_headers(plate_path)
    out_headers = raw_headers(out_path)
    for before, after in zip(plate_headers, out_headers, strict=True):
        provenance = {k for k in after if k.startswith("stylelock:")}
        for key in provenance & set(before):
            if key not in PROVENANCE:  # the plate's own stylelock attributes survive too
                assert after[key] == before[key], key
        expected = {k: v for k, v in before.items() if k not in provenance}
        if compression:  # a changed compression drops its own settings, nothing else
            settings = {"compression", "dwaCompressionLevel", "zipCompressionLevel"}
            expected = {k: v for k, v in expected.items() if k not in settings}
            after = {k: v for k, v in after.items() if k not in settings}
        assert {k: v for k, v in after.items() if k not in provenance} == expected


@pytest.mark.parametrize(
    ("label", "options"),
    [
        ("half-zip-overscan-aspect2", dict(compression="zip", pixel_aspect=2.0)),
        ("float-piz-tiled", dict(compression="piz", tile=(16, 16), colour_dtype=np.float32)),
        ("half-none-scanline", dict(compression="none")),
    ],
)
def test_passthrough_is_lossless_on_hostile_plates(tmp_path, label, options):
    colour_dtype = options.pop("colour_dtype", np.float16)
    for frame in FRAMES:
        channels = random_plate_channels(40, 56, seed=frame, colour_dtype=colour_dtype)
        channels["R"][3, 4] = np.nan
        channels["G"][5, 6] = np.inf
        write_test_exr(
            tmp_path / f"plate.{frame}.exr",
            channels,
            data_window=(-6, -4, 56, 40),
            display_window=(0, 0, 44, 32),
            attributes=ATTRIBUTES,
            **options,
        )
    passthrough(str(tmp_path / "plate.####.exr"), str(tmp_path / "out" / "rt.####.exr"))
    for frame in FRAMES:
        assert_round_trip(str(tmp_path / f"plate.{frame}.exr"), str(tmp_path / "out" / f"rt.{frame}.exr"))


def test_lossy_dwaa_input_is_not_re_encoded_with_dwaa(tmp_path):
    for frame in FRAMES:
        channels = random_plate_channels(32, 48, seed=frame, with_uint=False)
        write_test_exr(tmp_path / f"plate.{frame}.exr", channels, compression="dwaa:45")
    passthrough(str(tmp_path / "plate.####.exr"), str(tmp_path / "out" / "rt.####.exr"))
    for frame in FRAMES:
        out = str(tmp_path / "out" / f"rt.{frame}.exr")
        assert read_exr_header(out).main.compression == "zip"
        assert_round_trip(str(tmp_path / f"plate.{frame}.exr"), out, compression="zip")


def test_multipart_plate_keeps_every_part(tmp_path):
    for frame in FRAMES:
        beauty = random_plate_channels(24, 32, seed=frame, with_uint=False)
        beauty = {k: beauty[k] for k in ("R", "G", "B", "A")}
        extra = random_plate_channels(24, 32, seed=frame + 50, with_uint=False)
        extra = {k: extra[k] for k in ("depth.Z", "crypto00.R", "crypto00.G")}
        write_test_exr(
            tmp_path / f"plate.{frame}.exr",
            beauty,
            name="beauty",
            parts=[dict(channels=extra, name="aovs")],
        )
    passthrough(str(tmp_path / "plate.####.exr"), str(tmp_path / "out" / "rt.####.exr"))
    for frame in FRAMES:
        assert_round_trip(str(tmp_path / f"plate.{frame}.exr"), str(tmp_path / "out" / f"rt.{frame}.exr"))


@pytest.mark.parametrize("encoding", ["srgb", "acescct"])
def test_sample_plate_round_trip_through_both_encodings(tmp_path, encoding):
    plate = write_sample_plate(tmp_path / "plate", frames=list(FRAMES), width=96, height=54)
    passthrough(plate, str(tmp_path / "out" / "rt.####.exr"), colour=ColourSettings(encoding=encoding))
    for frame in FRAMES:
        source = str(tmp_path / "plate" / f"plate.{frame}.exr")
        result = str(tmp_path / "out" / f"rt.{frame}.exr")
        assert_round_trip(source, result)
        assert read_exr(source).main.pixels["R"].max() > 20.0  # highlights far above 1 survived


def test_two_runs_write_identical_bytes(tmp_path):
    plate = write_sample_plate(tmp_path / "plate", frames=list(FRAMES), width=64, height=36)
    passthrough(plate, str(tmp_path / "a" / "rt.####.exr"))
    passthrough(plate, str(tmp_path / "b" / "rt.####.exr"))
    for frame in FRAMES:
        first = (tmp_path / "a" / f"rt.{frame}.exr").read_bytes()
        assert first == (tmp_path / "b" / f"rt.{frame}.exr").read_bytes()


def test_named_builtin_config_and_colour_space_are_used_and_recorded(tmp_path):
    import json

    plate = write_sample_plate(tmp_path / "plate", frames=list(FRAMES), width=64, height=36)
    config = "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4"
    colour = ColourSettings(config=config, input_space="ACES2065-1", encoding="acescct")
    passthrough(plate, str(tmp_path / "out" / "rt.####.exr"), colour=colour)
    for frame in FRAMES:
        result = str(tmp_path / "out" / f"rt.{frame}.exr")
        assert_round_trip(str(tmp_path / "plate" / f"plate.{frame}.exr"), result)
        recorded = json.loads(read_exr_header(result).main.attributes["stylelock:colour"])
        assert recorded["ocio_config"] == config
        assert recorded["input_space"] == "ACES2065-1" and recorded["encoding"] == "acescct"


# --- the inverse transform, proven on edited pixels -------------------------------------------------

SPACES = ("ACEScg", "sRGB")  # the scene_linear role, and a non-linear (display-encoded) plate space


@pytest.fixture(autouse=True)
def _test_engines(monkeypatch):
    for engine in (HalveEngine, IdentityCopyEngine):
        monkeypatch.setitem(BUILTIN_ENGINES, engine.name, f"pipeline_engines:{engine.__name__}")


def _run(plate: str, out: str, engine: str, input_space: str, encoding: str) -> None:
    passthrough(plate, out, engine=engine, colour=ColourSettings(input_space=input_space, encoding=encoding))


@pytest.mark.parametrize("input_space", SPACES)
@pytest.mark.parametrize("encoding", ["srgb", "acescct"])
def test_an_edited_round_trip_matches_ocio_forward_and_inverse(tmp_path, encoding, input_space):
    plate = write_reference_plate(tmp_path / "plate", list(FRAMES), input_space)
    _run(plate, str(tmp_path / "out" / "h.####.exr"), HalveEngine.name, input_space, encoding)
    for frame in FRAMES:
        assert_halved(plate.replace("####", str(frame)), str(tmp_path / "out" / f"h.{frame}.exr"),
                      input_space, encoding)  # fmt: skip


@pytest.mark.parametrize("input_space", SPACES)
def test_a_new_unchanged_array_gives_the_plate_back_bit_for_bit(tmp_path, input_space):
    plate = write_reference_plate(tmp_path / "plate", list(FRAMES), input_space)
    for encoding in ("srgb", "acescct"):
        _run(plate, str(tmp_path / encoding / "i.####.exr"), IdentityCopyEngine.name, input_space, encoding)
        for frame in FRAMES:
            (before,), (after,) = (
                read_native(plate.replace("####", str(frame))),
                read_native(str(tmp_path / encoding / f"i.{frame}.exr")),
            )
            assert all(same_bits(before[c], after[c]) for c in before), encoding


class _Doubled:
    """A CPU processor that does what it wraps, then doubles the result: a wrong inverse."""

    def __init__(self, processor):
        self._processor = processor

    def applyRGB(self, pixels):  # OCIO spells it so
        self._processor.applyRGB(pixels)
        pixels *= 2.0


@pytest.mark.parametrize("inverse", ["_from_linear", "_decode_curve"])
def test_a_wrong_inverse_fails_the_edited_round_trip(tmp_path, monkeypatch, inverse):
    """Each of the codec's two inverse processors (linear -> plate space, encoding -> linear),
    doubled: the unchanged round trip cannot tell, the edited one must."""
    built = colour_codec.ModelSpaceCodec.__init__

    def with_wrong_inverse(self, *args, **kwargs):
        built(self, *args, **kwargs)
        setattr(self, inverse, _Doubled(getattr(self, inverse)))

    monkeypatch.setattr(colour_codec.ModelSpaceCodec, "__init__", with_wrong_inverse)
    plate = write_reference_plate(tmp_path / "plate", list(FRAMES), "sRGB")
    frame = plate.replace("####", str(FRAMES[0]))
    passthrough(plate, str(tmp_path / "same" / "s.####.exr"))
    (before,), (after,) = read_native(frame), read_native(str(tmp_path / "same" / f"s.{FRAMES[0]}.exr"))
    assert all(same_bits(before[c], after[c]) for c in before)  # blind to the inverse, by design
    _run(plate, str(tmp_path / "out" / "h.####.exr"), HalveEngine.name, "sRGB", "srgb")
    with pytest.raises(AssertionError, match="max relative error"):
        assert_halved(frame, str(tmp_path / "out" / f"h.{FRAMES[0]}.exr"), "sRGB", "srgb")
