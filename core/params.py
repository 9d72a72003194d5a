"""Typed engine parameters: the schema every host builds its UI from, and their validation.

Engines declare a tuple of `ParamSpec`; `validate_params` turns user input (already typed values
from a host, or strings from the command line) into a complete, typed dict or raises `SpecError`
with a message that names the bad value and what would be accepted.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from stylelock.core.errors import SpecError

ParamType = Literal["float", "int", "bool", "string", "enum", "path"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class ParamSpec:
    """One engine parameter: what a host shows (label, help, range) and what the engine receives."""

    name: str
    type: ParamType
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    advanced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "help": self.help,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices),
            "advanced": self.advanced,
        }

    def coerce(self, value: Any) -> Any:
        """Return `value` as this parameter's type, checked against range and choices."""
        try:
            typed = self._convert(value)
        except (TypeError, ValueError):
            raise SpecError(f"parameter {self.name!r} must be {self._describe()}, got {value!r}") from None
        if self.type == "float" and not math.isfinite(typed):
            raise SpecError(f"parameter {self.name!r} must be a finite number, got {value!r}")
        if self.type in ("float", "int"):
            if self.minimum is not None and typed < self.minimum:
                raise SpecError(f"parameter {self.name!r}={typed} is below its minimum {self.minimum}")
            if self.maximum is not None and typed > self.maximum:
                raise SpecError(f"parameter {self.name!r}={typed} is above its maximum {self.maximum}")
        if self.type == "enum" and typed not in self.choices:
            raise SpecError(f"parameter {self.name!r}={typed!r} is not one of {', '.join(self.choices)}")
        return typed

    def _convert(self, value: Any) -> Any:
        if self.type == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if self.type == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if not isinstance(value, str):
            raise TypeError
        return value

    def _describe(self) -> str:
        if self.type == "enum":
            return f"one of {', '.join(self.choices)}"
        if self.type == "bool":
            return "true or false"
        article = "an" if self.type == "int" else "a"
        return f"{article} {self.type}"


@dataclass(frozen=True)
class ParamSchema:
    """The ordered parameters of one engine."""

    params: tuple[ParamSpec, ...] = field(default_factory=tuple)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def to_list(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]


def validate_params(
    engine: str, schema: ParamSchema | Sequence[ParamSpec], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Complete `values` with defaults and type-check them; unknown names are an error."""
    if not isinstance(schema, ParamSchema):
        schema = ParamSchema(tuple(schema))
    by_name = {p.name: p for p in schema.params}
    resolved = schema.defaults()
    for name, value in values.items():
        spec = by_name.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(by_name), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = ", ".join(by_name) or "none"
            raise SpecError(f"engine {engine!r} has no parameter {name!r}{hint} (its parameters: {known})")
        resolved[name] = spec.coerce(value)
    return resolved
