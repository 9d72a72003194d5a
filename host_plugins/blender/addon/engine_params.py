"""Engine parameters as Blender properties, built from the schema the server publishes.

Nothing here names an engine or a parameter: for each engine of the server's info, a PropertyGroup
class is made from `stylelock.core.hosts.fields.param_fields` (floats with the schema's bounds and
a slider range, ints, booleans, enums with the schema's choices, strings and paths; the help text
as the tooltip) and hung under `scene.stylelock_params.<engine>`. The values of record are the
JSON text in `scene.stylelock.param_values` (`SavedValues`): every edit writes there, jobs read
from there, and the properties are loaded from it whenever they are (re)built or a file is opened,
so a scene keeps its values across engine switches, sessions and server upgrades.
"""

from __future__ import annotations

import json
import re
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from stylelock.core.hosts.fields import ParamField, SavedValues, engine_names, param_fields

ROOT = "stylelock_params"
_RESERVED = {"name", "rna_type", "bl_rna", "id_data"}

_classes: list[type] = []
_signature = ""
_loading = False


def engine_attribute(engine: str) -> str:
    """`diffusion-image` -> `diffusion_image`: an engine's attribute under `scene.stylelock_params`."""
    return "e_" + re.sub(r"\W", "_", engine)


def prop_id(field: ParamField) -> str:
    """The property name of a field (a parameter named like a built-in attribute gets a prefix)."""
    return f"p_{field.name}" if field.name in _RESERVED else field.name


def _store(group: Any, context: Any, engine: str, field: ParamField) -> None:
    if _loading:
        return
    settings = group.id_data.stylelock
    saved = SavedValues(settings.param_values)
    saved.set(engine, field.name, getattr(group, prop_id(field)))
    settings.param_values = saved.to_text()


def _property(engine: str, field: ParamField) -> Any:
    def update(group: Any, context: Any) -> None:
        _store(group, context, engine, field)

    common: dict[str, Any] = {"name": field.label, "description": field.help, "update": update}
    spec = field.spec
    if field.kind == "float":
        low, high = field.slider_range()
        bounds = {k: float(v) for k, v in (("min", spec.minimum), ("max", spec.maximum)) if v is not None}
        return FloatProperty(
            default=float(field.default or 0.0), soft_min=low, soft_max=high, **bounds, **common
        )
    if field.kind == "int":
        low, high = field.slider_range()
        bounds = {k: int(v) for k, v in (("min", spec.minimum), ("max", spec.maximum)) if v is not None}
        return IntProperty(
            default=int(field.default or 0), soft_min=int(low), soft_max=int(high), **bounds, **common
        )
    if field.kind == "bool":
        return BoolProperty(default=bool(field.default), **common)
    if field.kind == "enum":
        items = [(choice, choice, "") for choice in field.choices]
        return EnumProperty(items=items, default=str(field.default), **common)
    subtype = "FILE_PATH" if field.kind == "path" else "NONE"
    return StringProperty(default=str(field.default or ""), subtype=subtype, **common)


def build(info: dict[str, Any]) -> bool:
    """(Re)build the parameter classes for `info`'s engines; False when they are already current."""
    global _signature
    signature = json.dumps(
        [[e["name"], e.get("params", [])] for e in info.get("engines", ())], sort_keys=True
    )
    if signature == _signature and _classes:
        return False
    teardown()
    members: dict[str, Any] = {}
    for engine in engine_names(info):
        fields = param_fields(info, engine)
        annotations = {prop_id(field): _property(engine, field) for field in fields}
        cls = type(
            f"STYLELOCK_PG_params_{engine_attribute(engine)}",
            (bpy.types.PropertyGroup,),
            {"__annotations__": annotations, "stylelock_engine": engine},
        )
        bpy.utils.register_class(cls)
        _classes.append(cls)
        members[engine_attribute(engine)] = PointerProperty(type=cls)
    root = type("STYLELOCK_PG_engine_params", (bpy.types.PropertyGroup,), {"__annotations__": members})
    bpy.utils.register_class(root)
    _classes.append(root)
    bpy.types.Scene.stylelock_params = PointerProperty(type=root)
    _signature = signature
    return True


def teardown() -> None:
    global _signature
    if hasattr(bpy.types.Scene, ROOT):
        del bpy.types.Scene.stylelock_params
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
    _classes.clear()
    _signature = ""


def group(scene: Any, engine: str) -> Any | None:
    """The scene's property group of `engine`'s parameters, or None before they are built."""
    root = getattr(scene, ROOT, None)
    return None if root is None else getattr(root, engine_attribute(engine), None)


def load(scene: Any, info: dict[str, Any]) -> None:
    """Set the scene's parameter properties from its saved values (the defaults where none is saved)."""
    global _loading
    saved = SavedValues(scene.stylelock.param_values)
    _loading = True
    try:
        for engine in engine_names(info):
            target = group(scene, engine)
            if target is None:
                continue
            fields = param_fields(info, engine)
            chosen = saved.values_for(fields)
            for field in fields:
                value = chosen[field.name]
                if value is not None:
                    setattr(target, prop_id(field), value)
    finally:
        _loading = False


def values(scene: Any, info: dict[str, Any], engine: str) -> dict[str, Any]:
    """The values a job of `engine` uses: the saved ones the engine still accepts, else defaults."""
    return SavedValues(scene.stylelock.param_values).values_for(param_fields(info, engine))
