"""Draw a panel headless against Blender's own RNA: every layout call must exist in this Blender.

Headless Blender has no window, so a panel's `draw` cannot run on a real `UILayout`. This layout
records each call and checks it against `bpy.types.UILayout`'s RNA definition of that function in
the running Blender (its name, its keyword arguments), and each `prop`/`prop_search`/`template_list`
against the data it names (the property must exist on that struct), so a call one Blender version
lacks fails here in that version's run.
"""

from __future__ import annotations

from typing import Any

import bpy

_DATA_ARGS = {"prop": (0, 1), "prop_search": (0, 1), "template_list": (2, 3)}


class CheckedLayout:
    def __init__(self, calls: list[str]) -> None:
        self._calls = calls
        self.enabled = True
        self.scale_y = 1.0

    def __getattr__(self, name: str) -> Any:
        function = bpy.types.UILayout.bl_rna.functions.get(name)
        if function is None:
            raise AttributeError(f"UILayout has no function {name!r} in Blender {bpy.app.version_string}")
        parameters = set(function.parameters.keys())

        def call(*args: Any, **kwargs: Any) -> Any:
            unknown = set(kwargs) - parameters
            if unknown:
                raise TypeError(
                    f"UILayout.{name} takes no {sorted(unknown)} in Blender {bpy.app.version_string}"
                )
            if name in _DATA_ARGS:
                data_index, prop_index = _DATA_ARGS[name]
                data, prop = args[data_index], args[prop_index]
                if prop not in data.bl_rna.properties:
                    raise AttributeError(f"{type(data).__name__} has no property {prop!r}")
            if name == "prop_search":
                search_data, search_prop = args[2], args[3]
                if search_prop not in search_data.bl_rna.properties:
                    raise AttributeError(f"{type(search_data).__name__} has no collection {search_prop!r}")
            self._calls.append(name)
            if name == "panel":
                return CheckedLayout(self._calls), CheckedLayout(self._calls)
            if name in ("row", "column", "box", "split", "column_flow", "grid_flow"):
                return CheckedLayout(self._calls)
            return None

        return call


def check_panel_calls(draw: Any, context: Any) -> list[str]:
    """Run `draw(layout, context)` on a checked layout; returns the calls it made (raises on a bad one)."""
    calls: list[str] = []
    draw(CheckedLayout(calls), context)
    return calls
