"""Engine parameters as host UI fields, built from the schema the server publishes.

A host never hard-codes an engine: it asks the server (`StyleLockClient.info()`), turns the chosen
engine's schema into `ParamField`s (one knob or property each) and reads the values back through
the same schema, so a new engine on the server needs no plugin change.

The values a user set are kept per engine in one JSON text (`SavedValues`), which the host stores
with its scene (a hidden knob, a string property): switching engine and back restores them, and
a value the engine no longer accepts falls back to its default instead of breaking the scene.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stylelock.core.errors import SpecError, UnknownEngineError
from stylelock.core.params import ParamSpec

#: Parameters a host does not show: they follow from the host's own settings or the server.
HIDDEN_PARAMS = frozenset({"device"})


@dataclass(frozen=True)
class ParamField:
    """One engine parameter as a UI field."""

    engine: str
    spec: ParamSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        """`patch_size` -> `patch size`: what a knob or property shows."""
        return self.spec.name.replace("_", " ")

    @property
    def kind(self) -> str:
        """float, int, bool, enum, string or path."""
        return self.spec.type

    @property
    def default(self) -> Any:
        return self.spec.default

    @property
    def help(self) -> str:
        return self.spec.help

    @property
    def choices(self) -> tuple[str, ...]:
        return self.spec.choices

    @property
    def advanced(self) -> bool:
        return self.spec.advanced

    def slider_range(self) -> tuple[float, float]:
        """A finite range for a slider: the schema's bounds, or a sensible span around the default."""
        default = float(self.default or 0)
        low = self.spec.minimum if self.spec.minimum is not None else min(0.0, default)
        high = self.spec.maximum if self.spec.maximum is not None else max(1.0, 4 * abs(default))
        if not (math.isfinite(low) and math.isfinite(high)) or abs(high - low) > 1e6:
            low, high = max(low, default - 100.0), min(high, default + 100.0)
        return float(low), float(high)

    def coerce(self, value: Any) -> Any:
        """`value` as this field's type, checked (a `SpecError` names the field and what it takes)."""
        return self.spec.coerce(value)


def engine_names(info: Mapping[str, Any]) -> list[str]:
    """The engines a server offers, in its order."""
    return [engine["name"] for engine in info.get("engines", ())]


def engine_description(info: Mapping[str, Any], engine: str) -> Mapping[str, Any]:
    for description in info.get("engines", ()):
        if description["name"] == engine:
            return description
    raise UnknownEngineError(
        f"the server offers no engine {engine!r} (it offers: {', '.join(engine_names(info)) or 'none'})"
    )


def param_fields(info: Mapping[str, Any], engine: str) -> list[ParamField]:
    """The fields of `engine`'s parameters, in the schema's order, without the hidden ones."""
    fields = []
    for param in engine_description(info, engine).get("params", ()):
        if param["name"] in HIDDEN_PARAMS:
            continue
        spec = ParamSpec(
            name=param["name"],
            type=param["type"],
            default=param.get("default"),
            help=param.get("help") or "",
            minimum=param.get("minimum"),
            maximum=param.get("maximum"),
            choices=tuple(param.get("choices") or ()),
            advanced=bool(param.get("advanced")),
        )
        fields.append(ParamField(engine, spec))
    return fields


def job_params(fields: Sequence[ParamField], values: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's `params` for these values: only those that differ from the defaults, typed.

    A job then reads as the same one the CLI would describe with the same settings, so its outputs
    carry the same resume keys and provenance byte for byte.
    """
    params = {}
    for field in fields:
        raw = values.get(field.name)
        if raw is None or (field.default is None and raw == ""):
            continue  # unset: the engine's default applies
        value = field.coerce(raw)
        if value != field.default:
            params[field.name] = value
    return params


class SavedValues:
    """The values a user set, per engine, as one JSON text a host saves with its scene."""

    def __init__(self, text: str = "") -> None:
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            data = {}
        self._values: dict[str, dict[str, Any]] = {
            engine: dict(values)
            for engine, values in (data.items() if isinstance(data, dict) else ())
            if isinstance(values, dict)
        }

    def to_text(self) -> str:
        return json.dumps(self._values, sort_keys=True)

    def get(self, engine: str) -> dict[str, Any]:
        return dict(self._values.get(engine, {}))

    def set(self, engine: str, name: str, value: Any) -> None:
        self._values.setdefault(engine, {})[name] = value

    def values_for(self, fields: Sequence[ParamField]) -> dict[str, Any]:
        """Every field's value: the saved one when the engine still accepts it, else the default."""
        saved = self._values.get(fields[0].engine, {}) if fields else {}
        values = {}
        for field in fields:
            value = field.default
            if field.name in saved:
                try:
                    value = field.coerce(saved[field.name])
                except SpecError:
                    value = field.default
            values[field.name] = value
        return values
