"""Colour management over real OpenColorIO configs: choosing the config, naming colour spaces, and the
model-space codec's round trip (exact when the engine changes nothing, sensible when it does)."""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as OCIO
import pytest

from stylelock.core.colour import (
    ENCODINGS,
    ModelSpaceCodec,
    ResolvedConfig,
    bundled_config,
    close_names,
    resolve_colorspace,
    resolve_config,
)
from stylelock.core.errors import ColourError, EngineError
from stylelock.ocio_configs import BASE_BUILTIN, BUNDLED_CONFIG, CONFIG_DIR, build_config

VERSIONED_BUILTIN = "ocio://cg-config-v5.0.0_aces-v2.1_ocio-v2.6"
H, W = 48, 64


@pytest.fixture(autouse=True)
def _no_ambient_ocio(monkeypatch):
    """Tests choose the config themselves; an $OCIO on the machine must not leak in."""
    monkeypatch.delenv("OCIO", raising=False)


def _write_plate_config(path, *, interchange: bool = True):
    """A small studio-style config built with OCIO's API, unlike the CG config: its reference is
    CIE XYZ D65 and its colour spaces have their own names, so only interchange roles connect it."""
    config = OCIO.Config.CreateRaw()
    config.setName("test-plate-config")
    xyz = OCIO.ColorSpace(name="xyz_d65")
    config.addColorSpace(xyz)

    def space(name, *transforms):
        colour_space = OCIO.ColorSpace(name=name)
        group = OCIO.GroupTransform()
        for transform in transforms:
            group.appendTransform(transform)
        colour_space.setTransform(group, OCIO.COLORSPACE_DIR_TO_REFERENCE)
        config.addColorSpace(colour_space)

    ap0_to_xyz = OCIO.BuiltinTransform("UTILITY - ACES-AP0_to_CIE-XYZ-D65_BFD")
    space("plate_ap1", OCIO.BuiltinTransform("UTILITY - ACES-AP1_to_CIE-XYZ-D65_BFD"))
    space("plate_ap0", ap0_to_xyz)
    space("plate_log", OCIO.BuiltinTransform("ACEScct_to_ACES2065-1"), ap0_to_xyz)
    data = OCIO.ColorSpace(name="plate_data")
    data.setIsData(True)
    config.addColorSpace(data)
    config.setRole(OCIO.ROLE_SCENE_LINEAR, "plate_ap1")
    config.setRole(OCIO.ROLE_DATA, "plate_data")
    config.setRole(OCIO.ROLE_DEFAULT, "xyz_d65")
    if interchange:
        config.setRole("aces_interchange", "plate_ap0")
    path.write_text(config.serialize(), encoding="utf-8")
    return path


def _plate(seed: int = 7) -> tuple[np.ndarray, np.ndarray, int]:
    """Premultiplied RGB with magnitudes 1e-4..1e4, negatives, alpha 0..1 (alpha 0 with RGB, as
    glows have), and NaN/Inf pixels. Returns (rgb, alpha, count of non-finite pixels)."""
    rng = np.random.default_rng(seed)
    magnitude = 10.0 ** rng.uniform(-4.0, 4.0, (H, W, 3))
    sign = np.where(rng.random((H, W, 3)) < 0.2, -1.0, 1.0)
    unpremult = (magnitude * sign).astype(np.float32)
    unpremult[0, :8] = [[1e-4, 1e-4, 1e-4], [1e4, 1e4, 1e4], [-1e4, 5.0, 1e-4], [0.18, 0.18, 0.18]] * 2
    alpha = rng.uniform(0.0, 1.0, (H, W)).astype(np.float32)
    alpha[1:5] = 1.0
    alpha[5:9] = 0.0  # glow: RGB without coverage
    alpha[9, :4] = [1e-7, 1e-6, 2e-6, 1e-3]
    rgb = unpremult * np.where(alpha[..., None] > 0.0, alpha[..., None], 1.0)
    rgb[10, 10] = np.nan
    rgb[11, 11, 1] = np.inf
    rgb[12, 12, 2] = -np.inf
    rgb[13, 13] = [np.nan, 1.0, np.inf]
    return rgb.astype(np.float32), alpha, 4


def _relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    finite = np.isfinite(ref)
    scale = np.maximum(np.abs(ref[finite]), 1e-12)
    return float(np.max(np.abs(out[finite].astype(np.float64) - ref[finite]) / scale))


def _configs(tmp_path, monkeypatch) -> dict[str, tuple[ResolvedConfig, list[str | None]]]:
    """Every way a config arrives, each with the input spaces to try (None = scene_linear)."""
    path = _write_plate_config(tmp_path / "plate.ocio")
    by_path = resolve_config(str(path))
    monkeypatch.setenv("OCIO", str(path))
    by_env = resolve_config()
    monkeypatch.delenv("OCIO")
    return {
        "bundled": (resolve_config(), [None, "Linear Rec.709", "sRGB"]),
        "builtin": (resolve_config(VERSIONED_BUILTIN), [None, "lin_rec709", "ACEScct"]),
        "path": (by_path, [None, "plate_log"]),
        "env": (by_env, [None, "plate_ap0"]),
    }


# --- choosing the config -------------------------------------------------------------------------


def test_bundled_config_is_the_default_and_recorded_by_path():
    resolved = resolve_config()
    assert resolved.source == "bundled"
    assert resolved.name == str(BUNDLED_CONFIG)
    assert resolved.is_bundled
    assert BASE_BUILTIN in resolved.description
    assert resolved.config.getRoleColorSpace("scene_linear") == "ACEScg"


def test_env_then_flag_precedence(tmp_path, monkeypatch):
    path = _write_plate_config(tmp_path / "plate.ocio")
    monkeypatch.setenv("OCIO", str(path))
    from_env = resolve_config()
    assert (from_env.source, from_env.name) == ("$OCIO", str(path.resolve()))
    assert not from_env.is_bundled
    flagged = resolve_config(VERSIONED_BUILTIN)
    assert (flagged.source, flagged.name) == ("flag", VERSIONED_BUILTIN)


def test_ocio_default_is_recorded_as_the_versioned_builtin_it_resolves_to():
    resolved = resolve_config("ocio://default")
    assert resolved.name.startswith("ocio://") and resolved.name != "ocio://default"
    assert resolved.name == OCIO.ResolveConfigPath("ocio://default")


def test_unreadable_configs_raise_colour_errors_naming_them(tmp_path, monkeypatch):
    missing = tmp_path / "nope.ocio"
    with pytest.raises(ColourError, match=r"nope\.ocio"):
        resolve_config(str(missing))
    garbage = tmp_path / "garbage.ocio"
    garbage.write_text("this: is: not: an ocio config\n", encoding="utf-8")
    with pytest.raises(ColourError, match=r"garbage\.ocio"):
        resolve_config(str(garbage))
    with pytest.raises(ColourError, match="ocio://no-such-config"):
        resolve_config("ocio://no-such-config")
    monkeypatch.setenv("OCIO", str(missing))
    with pytest.raises(ColourError, match=r"nope\.ocio.*\$OCIO"):
        resolve_config()


# --- the bundled config ---------------------------------------------------------------------------


def test_bundled_config_is_what_the_generator_writes():
    assert BUNDLED_CONFIG.parent == CONFIG_DIR
    assert BUNDLED_CONFIG.read_text(encoding="utf-8") == build_config.build(), (
        "ocio_configs/stylelock.ocio is stale: run python -m stylelock.ocio_configs.build_config"
    )


@pytest.mark.parametrize(
    ("host_name", "canonical"),
    [
        ("Linear Rec.709", "Linear Rec.709 (sRGB)"),
        ("Linear", "Linear Rec.709 (sRGB)"),
        ("lin_rec709", "Linear Rec.709 (sRGB)"),
        ("Non-Color", "Raw"),
        ("sRGB", "sRGB Encoded Rec.709 (sRGB)"),
        ("Display P3", "sRGB Encoded P3-D65"),
        ("Linear DCI-P3 D65", "Linear P3-D65"),
        ("ACEScg", "ACEScg"),
        ("ACEScct", "ACEScct"),
        ("ACES2065-1", "ACES2065-1"),
        ("scene_linear", "ACEScg"),
    ],
)
def test_bundled_config_names_host_colour_spaces(host_name, canonical):
    assert resolve_colorspace(bundled_config(), host_name) == canonical


def test_bundled_config_data_space_and_encoding_roles():
    config = bundled_config().config
    assert config.getColorSpace("Non-Color").isData()
    for encoding in ENCODINGS:
        assert config.getColorSpace(config.getRoleColorSpace(f"stylelock_{encoding}_encoded")) is not None
        assert config.getColorSpace(config.getRoleColorSpace(f"stylelock_{encoding}_linear")) is not None


def test_bundled_config_loads_in_another_ocio_version():
    """OpenImageIO bundles its own OpenColorIO (2.5.x here): the profile-2.4 file must load there too."""
    assert oiio.get_string_attribute("opencolorio_version") != OCIO.__version__
    colour_config = oiio.ColorConfig(str(BUNDLED_CONFIG))
    assert colour_config.geterror() == ""
    assert colour_config.getColorSpaceNameByRole("stylelock_srgb_encoded") == "sRGB Encoded Rec.709 (sRGB)"


# --- naming colour spaces -------------------------------------------------------------------------


def test_default_input_space_is_scene_linear_role(tmp_path):
    assert resolve_colorspace(bundled_config(), None) == "ACEScg"
    plate = resolve_config(str(_write_plate_config(tmp_path / "p.ocio")))
    assert resolve_colorspace(plate, None) == "plate_ap1"


@pytest.mark.parametrize("typo", ["ACEScg ", "acescgg", "ACES cg"])
def test_unknown_colour_space_lists_close_names(typo):
    with pytest.raises(ColourError) as caught:
        resolve_colorspace(bundled_config(), typo)
    message = str(caught.value)
    assert repr(typo) in message
    assert "'ACEScg'" in message.split("close names:")[1]
    assert len(close_names(bundled_config(), typo)) <= 5
    assert "\n" not in message


def test_close_names_offer_each_colour_space_once():
    near = close_names(bundled_config(), "linear rec709")
    spaces = [resolve_colorspace(bundled_config(), name) for name in near]
    assert len(spaces) == len(set(spaces))
    assert "Linear Rec.709 (sRGB)" in spaces


def test_blender_only_names_point_to_blenders_config():
    with pytest.raises(ColourError, match="Blender's own config"):
        resolve_colorspace(bundled_config(), "AgX Log")


def test_unknown_encoding_and_missing_interchange_are_colour_errors(tmp_path):
    with pytest.raises(ColourError, match="'rec709'"):
        ModelSpaceCodec(bundled_config(), None, "rec709")
    isolated = resolve_config(str(_write_plate_config(tmp_path / "iso.ocio", interchange=False)))
    with pytest.raises(ColourError, match="interchange"):
        ModelSpaceCodec(isolated, None, "srgb")


# --- the codec: round trip ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_round_trip_with_unchanged_model_is_exact(encoding, tmp_path, monkeypatch):
    rgb, alpha, nonfinite = _plate()
    for label, (config, spaces) in _configs(tmp_path, monkeypatch).items():
        for space in spaces:
            codec = ModelSpaceCodec(config, space, encoding)
            model, state = codec.encode(rgb, alpha)
            where = f"{label} config, {codec.input_space}, {encoding}"
            assert model.dtype == np.float32 and model.shape == (H, W, 3), where
            assert np.isfinite(model).all() and model.min() >= 0.0 and model.max() <= 1.0, where
            assert state.nonfinite_pixels == nonfinite, where
            assert (model[10, 10] == 0.0).all() and (model[13, 13] == 0.0).all(), where

            out = codec.decode(model.copy(), state)
            assert out.dtype == np.float32 and out.shape == rgb.shape, where
            assert _relative_error(out, rgb) <= 1e-4, where
            # The stronger, documented property: the plate comes back bit for bit.
            same = (out == rgb) | (np.isnan(out) & np.isnan(rgb))
            assert same.all(), f"{where}: {np.count_nonzero(~same)} values differ"


def test_round_trip_without_alpha_and_with_alpha_shaped_h_w_1():
    rgb, alpha, _ = _plate(seed=3)
    codec = ModelSpaceCodec(bundled_config(), "Linear Rec.709", "srgb")
    for a in (None, alpha[..., None]):
        model, state = codec.encode(rgb, a)
        out = codec.decode(model, state)
        assert np.array_equal(out, rgb, equal_nan=True)


def test_model_space_looks_like_a_display_image():
    grey = np.full((2, 2, 3), 0.18, np.float32)
    for space in ("Linear Rec.709", "ACEScg"):
        srgb = ModelSpaceCodec(bundled_config(), space, "srgb").encode(grey, None)[0]
        assert np.allclose(srgb, 0.4614, atol=2e-3), space
        acescct = ModelSpaceCodec(bundled_config(), space, "acescct").encode(grey, None)[0]
        assert np.allclose(acescct, 0.4135, atol=2e-3), space


def test_builtin_and_studio_config_agree_with_the_bundled_encoding(tmp_path):
    """Conversions through interchange roles land where the bundled config's own do."""
    rng = np.random.default_rng(5)
    rgb = rng.uniform(0.0, 0.8, (8, 8, 3)).astype(np.float32)
    reference = ModelSpaceCodec(bundled_config(), "ACEScg", "srgb").encode(rgb, None)[0]
    builtin = ModelSpaceCodec(resolve_config(VERSIONED_BUILTIN), "ACEScg", "srgb").encode(rgb, None)[0]
    plate = resolve_config(str(_write_plate_config(tmp_path / "p.ocio")))
    studio = ModelSpaceCodec(plate, "plate_ap1", "srgb").encode(rgb, None)[0]
    assert np.abs(builtin - reference).max() < 1e-5
    assert np.abs(studio - reference).max() < 1e-4


# --- the codec: what an engine's change does ----------------------------------------------------


def _curve(encoding: str, inverse: bool = False):
    """The encoding's curve from the bundled config, independent of the codec's own processors."""
    config = bundled_config().config
    encoded = config.getRoleColorSpace(f"stylelock_{encoding}_encoded")
    linear = config.getRoleColorSpace(f"stylelock_{encoding}_linear")
    src, dst = (encoded, linear) if inverse else (linear, encoded)
    processor = config.getProcessor(src, dst).getOptimizedCPUProcessor(OCIO.OPTIMIZATION_LOSSLESS)

    def apply(values):
        pixels = np.ascontiguousarray(np.asarray(values, np.float32).reshape(-1, 3))
        processor.applyRGB(pixels)
        return pixels.reshape(np.shape(values))

    return apply


def test_engine_change_in_range_is_taken_as_is_and_premultiplied():
    rgb = np.full((2, 3, 3), 0.3, np.float32)
    alpha = np.array([[1.0, 0.5, 0.0], [0.25, 1.0, 0.0]], np.float32)
    rgb *= np.where(alpha > 0, alpha, 1.0)[..., None]
    codec = ModelSpaceCodec(bundled_config(), "Linear Rec.709", "srgb")
    model, state = codec.encode(rgb, alpha)
    assert np.allclose(model, _curve("srgb")(np.full(3, 0.3)), atol=1e-6)  # unpremultiplied
    out = codec.decode(np.full_like(model, 0.6), state)
    linear = _curve("srgb", inverse=True)(np.full(3, 0.6))[0]
    expected = linear * np.where(alpha > 0, alpha, 1.0)[..., None]  # alpha 0: a glow, not scaled
    assert np.allclose(out, expected, rtol=1e-5)


def test_highlights_come_back_where_the_engine_keeps_them_and_follow_its_paint_elsewhere():
    rgb = np.array([[[100.0, 100.0, 100.0], [40.0, 0.2, 0.1], [3000.0, 3000.0, 3000.0]]], np.float32)
    codec = ModelSpaceCodec(bundled_config(), "Linear Rec.709", "srgb")
    model, state = codec.encode(rgb, None)
    assert state.clipped_pixels == 3
    assert (model[..., 0] == 1.0).all()
    # The engine paints the first pixel mid grey, leaves the second alone and keeps the third at
    # the very top but for one code value.
    edited = model.copy()
    edited[0, 0] = _curve("srgb")(np.full(3, 0.5))
    edited[0, 2] = 1.0 - 1.0 / 255.0
    out = codec.decode(edited, state)
    assert np.allclose(out[0, 0], 0.5, rtol=1e-4)  # what it painted, not a sun scaled down to 50
    assert np.array_equal(out[0, 1], rgb[0, 1])
    assert 1.0 < out[0, 2, 0] < 3000.0  # half way up the ramp: part of the highlight
    # What the engine painted below the ramp re-encodes to exactly what it painted.
    again, _ = codec.encode(out, None)
    assert np.allclose(again[0, 0], edited[0, 0], atol=1e-5)
    # An engine that paints the first pixel black removes the highlight rather than keeping it.
    edited[0, 0] = 0.0
    assert np.abs(codec.decode(edited, state)[0, 0]).max() < 1e-6


def test_out_of_gamut_negatives_follow_the_engines_darkening():
    rgb = np.array([[[0.5, -0.1, 0.3]]], np.float32)
    codec = ModelSpaceCodec(bundled_config(), "Linear Rec.709", "srgb")
    model, state = codec.encode(rgb, None)
    assert model[0, 0, 1] == 0.0 and state.clipped_pixels == 1
    halved = _curve("srgb")(0.5 * _curve("srgb", inverse=True)(model))
    out = codec.decode(halved, state)
    assert np.allclose(out, 0.5 * rgb, rtol=1e-4, atol=1e-6)


def test_partial_edit_leaves_untouched_pixels_bit_exact():
    rgb, alpha, _ = _plate(seed=11)
    for encoding in ENCODINGS:
        codec = ModelSpaceCodec(bundled_config(), None, encoding)
        model, state = codec.encode(rgb, alpha)
        edited = model.copy()
        edited[:, : W // 2] *= 0.8
        out = codec.decode(edited, state)
        right = (out[:, W // 2 :] == rgb[:, W // 2 :]) | np.isnan(rgb[:, W // 2 :])
        assert right.all(), encoding
        assert np.isfinite(out[:, : W // 2][np.isfinite(rgb[:, : W // 2])]).all(), encoding
        assert not np.array_equal(out[20:, : W // 2], rgb[20:, : W // 2]), encoding


def test_non_finite_pixels_come_back_even_when_the_engine_paints_over_them():
    rgb, alpha, nonfinite = _plate(seed=2)
    codec = ModelSpaceCodec(bundled_config(), None, "acescct")
    model, state = codec.encode(rgb, alpha)
    out = codec.decode(np.full_like(model, 0.5), state)
    bad = ~np.isfinite(rgb).all(axis=2)
    assert np.count_nonzero(bad) == state.nonfinite_pixels == nonfinite
    assert np.array_equal(out[bad], rgb[bad], equal_nan=True)
    assert np.isfinite(out[~bad]).all()


def test_non_linear_input_space_decodes_edits():
    rgb = np.array([[[0.5, 0.25, 0.75], [1.5, 0.5, -0.2]]], np.float32)
    codec = ModelSpaceCodec(bundled_config(), "sRGB", "acescct")
    model, state = codec.encode(rgb, None)
    out = codec.decode(model * np.float32(0.9), state)
    assert np.isfinite(out).all()
    assert (out[0, 0] < rgb[0, 0]).all()  # darker in the model is darker in the plate's encoding too


def test_decode_refuses_broken_engine_output():
    rgb, alpha, _ = _plate()
    codec = ModelSpaceCodec(bundled_config(), None, "srgb")
    model, state = codec.encode(rgb, alpha)
    broken = model.copy()
    broken[3, 3, 1] = np.nan
    with pytest.raises(EngineError, match="non-finite"):
        codec.decode(broken, state)
    with pytest.raises(EngineError, match="shape"):
        codec.decode(model[:-1], state)


# --- look references and provenance ---------------------------------------------------------------


def test_display_image_means_the_same_light_in_both_encodings():
    code = np.array([[[118, 118, 118], [255, 0, 64]]], np.uint8)
    srgb = ModelSpaceCodec(bundled_config(), None, "srgb").encode_display_image(code)
    assert srgb.dtype == np.float32
    assert np.allclose(srgb, code / 255.0, atol=1e-6)
    acescct = ModelSpaceCodec(bundled_config(), None, "acescct").encode_display_image(code)
    assert np.isfinite(acescct).all() and acescct.min() >= 0.0 and acescct.max() <= 1.0
    # Code value 118 is linear ~0.18 in sRGB: ACEScct mid grey.
    assert np.allclose(acescct[0, 0], 0.4135, atol=3e-3)
    sixteen = ModelSpaceCodec(bundled_config(), None, "srgb").encode_display_image(
        (code.astype(np.uint16) * 257).astype(np.uint16)
    )
    assert np.allclose(sixteen, srgb, atol=1e-6)


def test_describe_records_config_space_encoding_and_version():
    codec = ModelSpaceCodec(resolve_config(VERSIONED_BUILTIN), "lin_rec709", "acescct")
    described = codec.describe()
    assert described["ocio_config"] == VERSIONED_BUILTIN
    assert described["ocio_config_source"] == "flag"
    assert described["input_space"] == "Linear Rec.709 (sRGB)"
    assert described["encoding"] == "acescct"
    assert described["encoded_space"] == "ACEScct"
    assert described["ocio_version"] == OCIO.__version__
    assert all(isinstance(value, str) for value in described.values())
