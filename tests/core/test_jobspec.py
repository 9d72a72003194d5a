"""The job spec: validation, serialisation round trip, schema upgrades, pixel hash."""

from __future__ import annotations

import json

import pytest

from stylelock.core.errors import SpecError
from stylelock.core.jobspec import (
    SCHEMA,
    ColourSettings,
    JobSpec,
    OutputSettings,
    StyleReference,
    register_upgrade,
)


def make_spec(**changes) -> JobSpec:
    base = dict(
        plate="/shots/a/plate.####.exr",
        frames="1001-1024",
        engine="keyframe",
        params={"seed": 7, "mode": "ebsynth"},
        styles=(StyleReference("/paint/p.1001.exr", 1001), StyleReference("/look.png")),
        colour=ColourSettings(config="ocio://studio", input_space="ACEScg", encoding="acescct"),
        output=OutputSettings(pattern="/out/s.####.exr", compression="piz", resume=False),
        proxy=0.5,
        mask="matte.R",
        layer="beauty",
        guides={"depth": "depth.Z"},
    )
    base.update(changes)
    return JobSpec(**base)


def test_json_round_trip_keeps_every_field():
    spec = make_spec()
    again = JobSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(spec.to_json())["schema"] == SCHEMA


def test_params_are_frozen():
    spec = make_spec()
    with pytest.raises(TypeError):
        spec.params["seed"] = 8  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"plate": ""}, "no plate"),
        ({"frames": " "}, "no frame range"),
        ({"proxy": 2.0}, "proxy scale 2.0"),
        ({"colour": ColourSettings(encoding="log")}, "'log'"),
        ({"mask": "/mattes/hero.exr"}, "mask '/mattes/hero.exr' names a file but no frame number"),
        ({"guides": {"depth": "depth.png"}}, "guide 'depth' 'depth.png' names a file but no frame number"),
    ],
)
def test_invalid_specs_name_the_problem(changes, message):
    with pytest.raises(SpecError, match=message):
        make_spec(**changes)


def test_unknown_fields_and_bad_json_are_spec_errors():
    data = make_spec().to_dict()
    data["colour_space"] = "ACEScg"
    with pytest.raises(SpecError, match="unknown fields: colour_space"):
        JobSpec.from_dict(data)
    with pytest.raises(SpecError, match="not valid JSON"):
        JobSpec.from_json("{plate")
    with pytest.raises(SpecError, match="lacks the field 'frames'"):
        JobSpec.from_dict({"plate": "a.####.exr"})


def test_old_schema_is_upgraded_through_registered_function():
    data = make_spec().to_dict()
    data["schema"] = "JobSpec.0-test"
    data["strength_percent"] = 55
    data.pop("proxy")

    def upgrade(old):
        old = dict(old)
        params = dict(old.get("params", {}))
        params["strength"] = old.pop("strength_percent") / 100
        old["params"] = params
        return old

    register_upgrade("JobSpec.0-test", SCHEMA, upgrade)
    spec = JobSpec.from_dict(data)
    assert spec.params["strength"] == pytest.approx(0.55)
    data["schema"] = "JobSpec.99"
    with pytest.raises(SpecError, match=r"JobSpec\.99"):
        JobSpec.from_dict(data)


def test_pixel_hash_follows_pixels_not_destinations():
    spec = make_spec()
    digests = {"/paint/p.1001.exr": "aaa", "/look.png": "bbb"}
    same = spec.pixel_hash(digests)
    moved = make_spec(output=OutputSettings(pattern="/elsewhere/x.####.exr"), frames="1001-1002")
    assert moved.pixel_hash(digests) == same
    assert make_spec(params={"seed": 8}).pixel_hash(digests) != same
    repainted = dict(digests, **{"/paint/p.1001.exr": "ccc"})
    assert spec.pixel_hash(repainted) != same


@pytest.mark.parametrize(
    ("text", "path", "frame"),
    [("1001=p.exr", "p.exr", 1001), ("look.png", "look.png", None), ("-5=a.exr", "a.exr", -5)],
)
def test_style_reference_parse(text, path, frame):
    ref = StyleReference.parse(text)
    assert (ref.path, ref.frame) == (path, frame)
