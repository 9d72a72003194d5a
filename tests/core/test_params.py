"""Typed engine parameters: coercion, ranges, enums and unknown names."""

from __future__ import annotations

import pytest

from stylelock.core.errors import SpecError
from stylelock.core.params import ParamSchema, ParamSpec, validate_params

SCHEMA = ParamSchema(
    (
        ParamSpec("strength", "float", 0.5, "how far from the plate", minimum=0.0, maximum=1.0),
        ParamSpec("steps", "int", 20, "sampling steps", minimum=1, maximum=200),
        ParamSpec("colour_lock", "bool", True, "keep the reference palette"),
        ParamSpec("mode", "enum", "ebsynth", "synthesis mode", choices=("ebsynth", "styleblit")),
        ParamSpec("prompt", "string", "", "text prompt"),
    )
)


def test_defaults_fill_and_strings_from_the_command_line_are_typed():
    values = validate_params("x", SCHEMA, {"strength": "0.25", "steps": "8", "colour_lock": "off"})
    assert values == {
        "strength": 0.25,
        "steps": 8,
        "colour_lock": False,
        "mode": "ebsynth",
        "prompt": "",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"strength": 1.5}, "above its maximum 1.0"),
        ({"steps": 0}, "below its minimum 1"),
        ({"steps": 2.5}, "must be an int, got 2.5"),
        ({"colour_lock": "perhaps"}, "true or false"),
        ({"mode": "fast"}, "not one of ebsynth, styleblit"),
        ({"strenght": 0.2}, "did you mean strength"),
        ({"prompt": 3}, "must be a string"),
    ],
)
def test_bad_values_name_the_parameter_and_the_rule(values, message):
    with pytest.raises(SpecError, match=message):
        validate_params("x", SCHEMA, values)


def test_schema_serialises_for_hosts():
    listed = SCHEMA.to_list()
    assert [p["name"] for p in listed] == SCHEMA.names()
    assert listed[3]["choices"] == ["ebsynth", "styleblit"]
    assert listed[0]["minimum"] == 0.0 and listed[0]["maximum"] == 1.0
