"""The StyleLock panel, drawn in the Compositor's sidebar (tab StyleLock) and in Output properties."""

from __future__ import annotations

from typing import Any

import bpy

from stylelock.core.errors import StyleLockError
from stylelock.core.hosts.fields import param_fields

from . import engine_params, host, properties, runner

#: Text fields show a grey hint where this Blender's UILayout.prop takes one.
_PLACEHOLDER = "placeholder" in bpy.types.UILayout.bl_rna.functions["prop"].parameters


class STYLELOCK_UL_styles(bpy.types.UIList):
    def draw_item(
        self,
        context: Any,
        layout: Any,
        data: Any,
        item: Any,
        icon: int,
        active_data: Any,
        active_property: str,
        index: int = 0,
        flt_flag: int = 0,
    ) -> None:
        row = layout.row(align=True)
        row.prop(item, "keyframe", text="", icon="KEYFRAME_HLT" if item.keyframe else "IMAGE_DATA")
        if item.keyframe:
            row.prop(item, "frame", text="")
        row.prop(item, "path", text="")


def _draw_params(layout: Any, context: Any, settings: Any) -> None:
    info = properties.cached_info(context)
    if not info:
        layout.label(text="Connect to load the engines", icon="INFO")
        return
    group = engine_params.group(context.scene, settings.engine)
    try:
        fields = param_fields(info, settings.engine)
    except StyleLockError as exc:
        layout.label(text=str(exc), icon="ERROR")
        return
    if group is None:
        layout.operator("stylelock.refresh", icon="FILE_REFRESH")
        return
    basic = [f for f in fields if not f.advanced]
    advanced = [f for f in fields if f.advanced]
    column = layout.column(align=True)
    for field in basic:
        column.prop(group, engine_params.prop_id(field))
    if advanced:
        header, body = layout.panel("stylelock_advanced_params", default_closed=True)
        header.label(text="Advanced")
        if body is not None:
            column = body.column(align=True)
            for field in advanced:
                column.prop(group, engine_params.prop_id(field))


def draw(layout: Any, context: Any) -> None:
    """The whole panel (shared by both places it appears)."""
    settings = context.scene.stylelock
    prefs = properties.preferences(context)
    row = layout.row(align=True)
    row.label(text=prefs.server, icon="LINKED")
    row.operator("stylelock.refresh", text="", icon="FILE_REFRESH")
    row.operator("stylelock.start_server", text="", icon="PLAY")

    layout.label(text="Style")
    row = layout.row()
    row.template_list("STYLELOCK_UL_styles", "", settings, "styles", settings, "active_style", rows=2)
    buttons = row.column(align=True)
    buttons.operator("stylelock.style_add", text="", icon="ADD")
    buttons.operator("stylelock.style_remove", text="", icon="REMOVE")

    layout.prop(settings, "engine_choice")
    _draw_params(layout.box(), context, settings)

    hint = {"placeholder": f"{context.scene.frame_start}-{context.scene.frame_end}"} if _PLACEHOLDER else {}
    layout.prop(settings, "frames", **hint)
    layout.prop(settings, "source", expand=True)
    if settings.source == "RENDER":
        layout.prop_search(settings, "view_layer", context.scene, "view_layers")
        row = layout.row(align=True)
        row.prop(settings, "use_vector", toggle=True)
        row.prop(settings, "use_depth", toggle=True)
        if settings.use_vector and host.motion_blur_hides_vectors(context.scene):
            layout.label(text="Motion blur is on: Cycles writes no vectors (flow is estimated)", icon="ERROR")
        layout.prop(settings, "rerender")
    else:
        layout.prop(settings, "sequence_path")
        layout.prop(settings, "sequence_layer")
        layout.prop(settings, "sequence_colorspace")
    row = layout.row(align=True)
    row.prop(settings, "proxy")
    row.prop(settings, "add_strip", toggle=True)

    run = runner.RUNS.get(context.scene.name)
    row = layout.row(align=True)
    row.scale_y = 1.4
    busy = run is not None and not run.ended
    row.enabled = not busy
    row.operator("stylelock.restyle", icon="RENDER_ANIMATION")
    row.operator("stylelock.preview", icon="RESTRICT_VIEW_OFF")
    if busy:
        layout.operator("stylelock.cancel", icon="CANCEL")
    if settings.status:
        layout.label(text=settings.status)


class STYLELOCK_PT_compositor(bpy.types.Panel):
    bl_label = "StyleLock"
    bl_idname = "STYLELOCK_PT_compositor"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "StyleLock"

    @classmethod
    def poll(cls, context: Any) -> bool:
        space = context.space_data
        return getattr(space, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context: Any) -> None:
        draw(self.layout, context)


class STYLELOCK_PT_output(bpy.types.Panel):
    bl_label = "StyleLock"
    bl_idname = "STYLELOCK_PT_output"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 - Blender reads a set

    def draw(self, context: Any) -> None:
        draw(self.layout, context)


CLASSES = (STYLELOCK_UL_styles, STYLELOCK_PT_compositor, STYLELOCK_PT_output)
