"""The shape a serialised job spec must have before it is believed: types, sizes, no NUL bytes.

A spec arrives as JSON from anyone who can reach a server (or from a file a farm wrote). Before a
`JobSpec` is built from it, every field is checked for its type (an engine is text, params a mapping
of names to scalars, proxy a number...) and its size (a 4 MB layer name, a million parameters or a
path with a NUL byte are refused), so a malformed spec is one INVALID_ARGUMENT line naming the
field, never an internal error deeper down, and nothing huge is kept or echoed back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stylelock.core.errors import SpecError

MAX_PATH = 4096
MAX_NAME = 256
MAX_TEXT = 16384
"""A parameter's text value (a prompt)."""
MAX_FRAMES_TEXT = 4096
MAX_ITEMS = 256
"""Parameters, style references, guides."""
MAX_SPEC_BYTES = 1024 * 1024


def _text(value: Any, field: str, limit: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise SpecError(f"job spec field {field} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise SpecError(f"job spec field {field} is {len(value)} characters long; the limit is {limit}")
    if "\0" in value:
        raise SpecError(f"job spec field {field} contains a NUL character")


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"job spec field {field} must be an object, got {type(value).__name__}")
    if len(value) > MAX_ITEMS:
        raise SpecError(f"job spec field {field} has {len(value)} entries; the limit is {MAX_ITEMS}")
    for key in value:
        _text(key, f"{field} name", MAX_NAME)
    return value


def _number(value: Any, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"job spec field {field} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise SpecError(f"job spec field {field} must be a finite number, got {value}")


def check_shape(data: Mapping[str, Any]) -> None:
    """Raise `SpecError` naming the first field of `data` (a decoded spec) that has the wrong shape."""
    for required in ("plate", "frames"):
        if required not in data:
            raise SpecError(f"job spec lacks the field {required!r}")
    _text(data.get("plate"), "plate", MAX_PATH)
    frames = data.get("frames")
    if isinstance(frames, int) and not isinstance(frames, bool):
        frames = str(frames)
    _text(frames, "frames", MAX_FRAMES_TEXT)
    _text(data.get("engine", "keyframe"), "engine", MAX_NAME)
    for name, value in _mapping(data.get("params"), "params").items():
        if isinstance(value, str):
            _text(value, f"params.{name}", MAX_TEXT)
        elif isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"parameter {name!r} must be a finite number, got {value}")
        elif value is not None and not isinstance(value, bool | int | float):
            raise SpecError(
                f"parameter {name!r} must be text, a number or true/false, got {type(value).__name__}"
            )
    styles = data.get("styles") or []
    if not isinstance(styles, list) or len(styles) > MAX_ITEMS:
        raise SpecError(f"job spec field styles must be a list of at most {MAX_ITEMS} references")
    for index, style in enumerate(styles):
        entry = _mapping(style, f"styles[{index}]")
        _text(entry.get("path"), f"styles[{index}].path", MAX_PATH)
        frame = entry.get("frame")
        if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int)):
            raise SpecError(f"job spec field styles[{index}].frame must be a whole number")
    colour = _mapping(data.get("colour"), "colour")
    for key in ("config", "input_space", "encoding"):
        _text(colour.get(key), f"colour.{key}", MAX_PATH, optional=True)
    output = _mapping(data.get("output"), "output")
    _text(output.get("pattern"), "output.pattern", MAX_PATH, optional=True)
    _text(output.get("compression"), "output.compression", MAX_NAME, optional=True)
    if not isinstance(output.get("resume", True), bool):
        raise SpecError("job spec field output.resume must be true or false")
    if "proxy" in data:
        _number(data["proxy"], "proxy")
    _text(data.get("mask"), "mask", MAX_PATH, optional=True)
    _text(data.get("layer", ""), "layer", MAX_NAME)
    for name, source in _mapping(data.get("guides"), "guides").items():
        _text(source, f"guides.{name}", MAX_PATH)
