"""StyleLock's preferences and per-scene settings (`scene.stylelock`).

The engine's own parameters are not here: they are built from the server's schema at run time
(`engine_params`) and stored as one JSON text in `StyleLockSettings.param_values`.
"""

import json
from collections.abc import Callable
from typing import Any

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from stylelock.core.hosts.restyle import DEFAULT_SERVER

from . import host

#: {address} and {blender_ocio} (the folder of Blender's OCIO config, which the server must be
#: allowed to read for AgX/Filmic plates) are filled in when the command runs.
DEFAULT_SERVER_COMMAND = "stylelock serve --listen {address} --allow-root {blender_ocio}"


def package() -> str:
    """The add-on's module name (`bl_ext.<repository>.stylelock` once installed as an extension)."""
    return __package__ or "stylelock"


def preferences(context: Any = None) -> Any:
    context = context or bpy.context
    return context.preferences.addons[package()].preferences


_parsed: tuple[str, dict[str, Any] | None] = ("", None)


def cached_info(context: Any = None) -> dict[str, Any] | None:
    """The server info fetched last (engines and their schemas), or None before any Refresh.

    Panels ask on every redraw, so the parsed text is kept until the text changes."""
    global _parsed
    text = preferences(context).server_info
    if text != _parsed[0]:
        _parsed = (text, json.loads(text) if text else None)
    return _parsed[1]


class StyleLockPreferences(bpy.types.AddonPreferences):
    bl_idname = package()

    server: StringProperty(  # type: ignore[valid-type]
        name="Server",
        description="host:port (or unix:///path.sock) of the StyleLock server",
        default=DEFAULT_SERVER,
    )
    token: StringProperty(  # type: ignore[valid-type]
        name="Access Token",
        description="Sent with every call as 'authorization: Bearer <token>': the token a server started "
        "with --tokens-file gave you (empty: $STYLELOCK_TOKEN, or none for a local server without tokens)",
        default="",
        subtype="PASSWORD",
    )
    server_command: StringProperty(  # type: ignore[valid-type]
        name="Local Server Command",
        description="What 'Start Local Server' runs when no server answers at the address. {address} and "
        "{blender_ocio} (the folder of Blender's OCIO config) are filled in; give the full path of the "
        "server environment's stylelock executable when it is not on PATH",
        default=DEFAULT_SERVER_COMMAND,
    )
    server_info: StringProperty(  # type: ignore[valid-type]
        name="Server Info",
        description="The engines and their parameters, as the server published them at the last Refresh",
        default="",
        options={"HIDDEN"},
    )

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.prop(self, "server")
        layout.prop(self, "token")
        row = layout.row(align=True)
        row.prop(self, "server_command")
        row.operator("stylelock.start_server", text="Start Local Server", icon="PLAY")
        layout.operator("stylelock.refresh", text="Connect / Refresh Engines", icon="FILE_REFRESH")
        info = cached_info(context)
        if info:
            names = ", ".join(engine["name"] for engine in info.get("engines", ()))
            layout.label(text=f"Engines: {names}")


class StyleLockStyleRow(bpy.types.PropertyGroup):
    """One style reference: a painted keyframe of a frame, or a look image (no frame)."""

    path: StringProperty(  # type: ignore[valid-type]
        name="Image",
        description="A painted keyframe (an EXR painted over the rendered frame) or a look image",
        subtype="FILE_PATH",
    )
    keyframe: BoolProperty(  # type: ignore[valid-type]
        name="Keyframe",
        description="On: the image is painted over the frame below. Off: a look image (its palette and "
        "texture are transferred)",
        default=False,
    )
    frame: IntProperty(name="Frame", description="The frame this keyframe paints", default=1)  # type: ignore[valid-type]


def _engine_items(self: Any, context: Any) -> list[tuple[str, str, str]]:
    global _ENGINE_ITEMS
    info = cached_info(context) if context is not None else None
    engines = (info or {}).get("engines", ())
    items = [(e["name"], e["name"], str(e.get("summary") or "")) for e in engines]
    items = items or [(self.engine, self.engine, "")]
    if items != _ENGINE_ITEMS:
        _ENGINE_ITEMS = items  # Blender needs the strings kept alive while the menu shows them
    return _ENGINE_ITEMS


_ENGINE_ITEMS: list[tuple[str, str, str]] = []
_SPACE_ITEMS: list[tuple[str, str, str]] = []


def _space_items(self: Any, context: Any) -> list[tuple[str, str, str]]:
    global _SPACE_ITEMS
    if not _SPACE_ITEMS:
        _SPACE_ITEMS = [(name, name, "") for name in host.colour_space_names()]
    return _SPACE_ITEMS


def _enum_over_string(
    attribute: str,
    items: Callable[[Any, Any], list[tuple[str, str, str]]],
    fallback: Callable[[], str] = str,
) -> dict[str, Any]:
    """`items`, `get` and `set` of an EnumProperty whose choices change at run time (the server's
    engines, Blender's colour spaces) and whose value lives in the string property `attribute`: an
    enum stores an index, which would point at another choice once the list changes."""

    def get(self: Any) -> int:
        names = [item[0] for item in items(self, bpy.context)]
        wanted = getattr(self, attribute) or fallback()
        return names.index(wanted) if wanted in names else 0

    def set_(self: Any, index: int) -> None:
        choices = items(self, bpy.context)
        if 0 <= index < len(choices):
            setattr(self, attribute, choices[index][0])

    return {"items": items, "get": get, "set": set_}


class StyleLockSettings(bpy.types.PropertyGroup):
    engine: StringProperty(name="Engine", default="keyframe")  # type: ignore[valid-type]
    engine_choice: EnumProperty(  # type: ignore[valid-type]
        name="Engine",
        description="The engines the server offers",
        **_enum_over_string("engine", _engine_items),
    )
    param_values: StringProperty(  # type: ignore[valid-type]
        name="Engine Parameters",
        description="The parameter values set for each engine (JSON)",
        default="",
        options={"HIDDEN"},
    )
    styles: CollectionProperty(type=StyleLockStyleRow)  # type: ignore[valid-type]
    active_style: IntProperty(default=0)  # type: ignore[valid-type]
    frames: StringProperty(  # type: ignore[valid-type]
        name="Frames",
        description="Frames to restyle: 1-48, 1-48x2, 1,5,10-20. Empty: the scene's frame range",
        default="",
    )
    source: EnumProperty(  # type: ignore[valid-type]
        name="Source",
        items=[
            (
                "RENDER",
                "Scene Render",
                "Render the scene (what is missing) into StyleLock's cache as a "
                "multilayer EXR sequence with the passes chosen below, and restyle that",
            ),
            (
                "SEQUENCE",
                "Image Sequence",
                "Restyle an image sequence on disk (e.g. your own multilayer EXR render output)",
            ),
        ],
        default="RENDER",
    )
    sequence_path: StringProperty(  # type: ignore[valid-type]
        name="Sequence",
        description="The image sequence to restyle, #### standing for the frame number "
        "(e.g. //render/shot.####.exr)",
        default="",
        subtype="FILE_PATH",
    )
    sequence_layer: StringProperty(  # type: ignore[valid-type]
        name="Layer",
        description="The EXR layer to restyle (e.g. ViewLayer.Combined). Empty: the main R, G, B",
        default="",
    )
    sequence_colorspace_name: StringProperty(default="")  # type: ignore[valid-type]
    sequence_colorspace: EnumProperty(  # type: ignore[valid-type]
        name="Colour Space",
        description="The sequence's colour space (names of Blender's OCIO config)",
        **_enum_over_string("sequence_colorspace_name", _space_items, host.working_space),
    )
    view_layer: StringProperty(  # type: ignore[valid-type]
        name="View Layer",
        description="The view layer rendered and restyled. Empty: the active one",
        default="",
    )
    use_vector: BoolProperty(  # type: ignore[valid-type]
        name="Vector (motion)",
        description="Render the Vector pass: the engine follows the renderer's exact motion instead of "
        "estimating it (Cycles writes no vectors while motion blur is on)",
        default=True,
    )
    use_depth: BoolProperty(  # type: ignore[valid-type]
        name="Depth (structure)",
        description="Render the Depth pass and hand it to the engine as a structure guide (used by engines "
        "with a depth ControlNet; the keyframe engine ignores it)",
        default=False,
    )
    rerender: BoolProperty(  # type: ignore[valid-type]
        name="Render Again",
        description="Render every frame again, not only the missing ones (after changing the scene)",
        default=False,
    )
    proxy: FloatProperty(  # type: ignore[valid-type]
        name="Proxy",
        description="Engine resolution as a fraction of the render's (the result is full size)",
        default=1.0,
        min=0.05,
        max=1.0,
    )
    add_strip: BoolProperty(  # type: ignore[valid-type]
        name="Sequencer Strip",
        description="Also put the result into the sequencer as an image strip",
        default=False,
    )
    status: StringProperty(name="Status", default="")  # type: ignore[valid-type]


CLASSES = (StyleLockPreferences, StyleLockStyleRow, StyleLockSettings)


def register() -> None:
    bpy.types.Scene.stylelock = PointerProperty(type=StyleLockSettings)


def unregister() -> None:
    del bpy.types.Scene.stylelock
