"""Every call StyleLock makes into Blender's data, in one module (Blender 4.2 to 5.0).

The operators, panels and the runner call these functions; job specs, parameter fields, style rows,
cache folders, previews and the job poller come from `stylelock.core.hosts`.

Where the versions differ:
- the compositor's node tree is `scene.node_tree` (enabled by `scene.use_nodes`) up to 4.5 and
  `scene.compositing_node_group`, a node group of its own, from 5.0;
- a multilayer EXR output needs `image_settings.media_type = 'MULTI_LAYER_IMAGE'` before
  `file_format` from 5.0, and 5.0 writes each pass as a part of its own (`ViewLayer.Vector`);
- the sequencer's strips are `sequence_editor.strips` from 4.4 (`sequences` before, gone in 5.0);
- 5.0 has a per-file working colour space (`bpy.data.colorspace.working_space`); before, scene
  linear is the OCIO config's `scene_linear` role (`Linear Rec.709` in Blender's own config).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import bpy

RESULT_NODE = "StyleLock"
PREVIEW_NODE = "StyleLock Preview"
VIEWER_NODE = "StyleLock Viewer"
STRIP_NAME = "StyleLock"


# -- scene and session ---------------------------------------------------------------------------
def scene(name: str) -> Any:
    found = bpy.data.scenes.get(name)
    if found is None:
        raise LookupError(f"scene {name!r} no longer exists")
    return found


def blend_path() -> str:
    """The saved .blend's path, "" for an unsaved file."""
    return bpy.data.filepath


def absolute(path: str) -> str:
    """A Blender path (`//` relative to the .blend) as an absolute, normalised one."""
    return os.path.normpath(bpy.path.abspath(path)) if path else ""


def background() -> bool:
    """True without a UI (`blender -b`, bpy as a module): no timers fire, no modal events come."""
    return bool(bpy.app.background)


def version() -> tuple[int, int, int]:
    return tuple(bpy.app.version)  # type: ignore[return-value]


def scene_frames(sc: Any) -> list[int]:
    return list(range(sc.frame_start, sc.frame_end + 1, max(1, sc.frame_step)))


# -- colour ----------------------------------------------------------------------------------------
def working_space() -> str:
    """The scene-linear space renders are written in: 5.0's per-file working space; before, the
    config's scene_linear role, which is `Linear Rec.709` in Blender's own config and "" (the role,
    by name unknown here) under a studio `$OCIO`."""
    colorspace = getattr(bpy.data, "colorspace", None)
    if colorspace is not None and getattr(colorspace, "working_space", ""):
        return str(colorspace.working_space)
    return "" if os.environ.get("OCIO", "").strip() else "Linear Rec.709"


def ocio_config_path() -> str:
    """The OCIO config this Blender uses: `$OCIO` when set, else the one it ships."""
    env = os.environ.get("OCIO", "").strip()
    if env:
        return env
    return os.path.join(bpy.utils.resource_path("LOCAL"), "datafiles", "colormanagement", "config.ocio")


def colour_space_names() -> list[str]:
    """The input colour spaces Blender offers (its config's names)."""
    prop = bpy.types.ColorManagedInputColorspaceSettings.bl_rna.properties["name"]
    return [item.identifier for item in prop.enum_items]


# -- rendering the plate ---------------------------------------------------------------------------
def _save(owner: Any, names: Sequence[str]) -> list[tuple[Any, str, Any]]:
    return [(owner, name, getattr(owner, name)) for name in names if hasattr(owner, name)]


@contextlib.contextmanager
def plate_output(sc: Any, view_layer: str, pattern: str, *, vector: bool, depth: bool) -> Iterator[None]:
    """The scene set to render `view_layer` into `pattern` as a lossless float multilayer EXR, with
    the Vector and Depth passes asked for and compositing and the sequencer off; every setting
    touched is put back afterwards, even when the render fails."""
    render = sc.render
    settings = render.image_settings
    saved = _save(render, ("filepath", "use_compositing", "use_sequencer", "use_file_extension"))
    saved += _save(render, ("use_overwrite", "use_placeholder"))
    saved += _save(sc, ("frame_start", "frame_end", "frame_step"))
    saved += _save(settings, ("media_type", "file_format", "color_depth", "exr_codec", "color_mode"))
    layer = sc.view_layers.get(view_layer)
    if layer is None:
        raise LookupError(f"the scene has no view layer {view_layer!r}")
    saved += [(other, "use", other.use) for other in sc.view_layers]
    saved += _save(layer, ("use_pass_combined", "use_pass_vector", "use_pass_z"))
    try:
        if hasattr(settings, "media_type"):
            settings.media_type = "MULTI_LAYER_IMAGE"
        settings.file_format = "OPEN_EXR_MULTILAYER"
        settings.color_depth = "32"
        settings.exr_codec = "ZIP"
        render.use_compositing = False
        render.use_sequencer = False
        render.use_file_extension = True
        render.use_overwrite = True
        render.use_placeholder = False
        render.filepath = pattern
        for other in sc.view_layers:
            other.use = other == layer
        layer.use_pass_combined = True
        layer.use_pass_vector = layer.use_pass_vector or vector
        layer.use_pass_z = layer.use_pass_z or depth
        yield
    finally:
        for owner, name, value in reversed(saved):
            with contextlib.suppress(AttributeError, TypeError, ValueError):
                setattr(owner, name, value)


def motion_blur_hides_vectors(sc: Any) -> bool:
    """Cycles writes no Vector pass while motion blur is on."""
    return sc.render.engine == "CYCLES" and bool(sc.render.use_motion_blur)


def render_run(sc: Any, first: int, last: int, step: int, *, invoke: bool) -> None:
    """Render frames first..last (every `step`) with the scene's current output settings.

    `invoke` runs Blender's render job (the UI stays live, its own Esc stops it; completion comes
    through `bpy.app.handlers.render_complete` / `render_cancel`); otherwise the call blocks."""
    sc.frame_start, sc.frame_end, sc.frame_step = first, last, step
    mode = "INVOKE_DEFAULT" if invoke else "EXEC_DEFAULT"
    result = bpy.ops.render.render(mode, animation=True, scene=sc.name)
    if "CANCELLED" in result:
        raise RuntimeError("Blender refused to start the render (is another render running?)")


def render_running() -> bool:
    return bool(bpy.app.is_job_running("RENDER"))


def watch_render(on_end: Any) -> Any:
    """Call `on_end(cancelled)` when the render job ends; returns a handle for `unwatch_render`."""

    def complete(*_args: Any) -> None:
        on_end(False)

    def cancel(*_args: Any) -> None:
        on_end(True)

    bpy.app.handlers.render_complete.append(complete)
    bpy.app.handlers.render_cancel.append(cancel)
    return complete, cancel


def unwatch_render(handle: Any) -> None:
    complete, cancel = handle
    for handlers, function in (
        (bpy.app.handlers.render_complete, complete),
        (bpy.app.handlers.render_cancel, cancel),
    ):
        if function in handlers:
            handlers.remove(function)


# -- the compositor --------------------------------------------------------------------------------
def compositor_tree(sc: Any) -> Any:
    """The scene's compositor node tree, created when it has none (4.2-4.5 and 5.0+ APIs)."""
    if hasattr(sc, "compositing_node_group"):
        tree = sc.compositing_node_group
        if tree is None:
            tree = bpy.data.node_groups.new(f"{sc.name} Compositor", "CompositorNodeTree")
            sc.compositing_node_group = tree
        return tree
    if not sc.use_nodes:
        sc.use_nodes = True
    return sc.node_tree


def load_sequence_node(sc: Any, name: str, first_path: str, first: int, last: int, colorspace: str) -> Any:
    """An Image node `name` in the compositor showing the sequence whose first frame is `first_path`
    (frames first..last, at the same scene frames), with a Viewer node on it when it has none."""
    tree = compositor_tree(sc)
    node = tree.nodes.get(name)
    if node is None or node.bl_idname != "CompositorNodeImage":
        node = tree.nodes.new("CompositorNodeImage")
        node.name = node.label = name
        node.location = (-300.0, -400.0 if name == PREVIEW_NODE else -150.0)
    image = node.image if node.image is not None and node.image.name == name else None
    if image is None:
        image = bpy.data.images.load(first_path, check_existing=False)
        image.name = name
    image.filepath = first_path
    image.source = "SEQUENCE"
    if colorspace and colorspace in colour_space_names():
        image.colorspace_settings.name = colorspace
    node.image = image
    node.frame_duration = last - first + 1
    node.frame_start = first
    node.frame_offset = first - 1
    image.reload()
    _view(tree, node)
    return node


def _view(tree: Any, node: Any) -> None:
    viewer = tree.nodes.get(VIEWER_NODE)
    if viewer is None:
        viewer = tree.nodes.new("CompositorNodeViewer")
        viewer.name = viewer.label = VIEWER_NODE
        viewer.location = (node.location.x + 300.0, node.location.y)
    tree.links.new(node.outputs[0], viewer.inputs[0])


def sequence_file(node: Any, frame: int) -> str:
    """The file the Image node `node` reads at scene frame `frame`, as Blender works it out
    (`BKE_image_user_frame_get`: frame - start + 1 + offset, clamped to the duration; the last run
    of digits in the file name replaced, keeping its padding)."""
    file_frame = min(max(frame - node.frame_start + 1, 1), node.frame_duration) + node.frame_offset
    head, tail = os.path.split(bpy.path.abspath(node.image.filepath))
    runs = list(re.finditer(r"\d+", tail))
    if not runs:
        return os.path.join(head, tail)
    last = runs[-1]
    number = str(file_frame).zfill(len(last.group()))
    return os.path.join(head, tail[: last.start()] + number + tail[last.end() :])


# -- the sequencer -----------------------------------------------------------------------------------
def load_sequence_strip(sc: Any, paths: Sequence[str], first: int, channel: int = 2) -> Any:
    """An image strip `StyleLock` in the sequencer holding `paths` from scene frame `first`."""
    editor = sc.sequence_editor or sc.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    old = strips.get(STRIP_NAME)
    if old is not None:
        strips.remove(old)
    strip = strips.new_image(name=STRIP_NAME, filepath=paths[0], channel=channel, frame_start=first)
    for path in paths[1:]:
        strip.elements.append(os.path.basename(path))
    return strip


# -- the UI (no-ops without one) ---------------------------------------------------------------------
def status(context: Any, text: str | None) -> None:
    """`text` in the status bar (None clears it)."""
    workspace = getattr(context, "workspace", None)
    if workspace is not None and not background():
        workspace.status_text_set(text)


def redraw(context: Any) -> None:
    screen = getattr(context, "screen", None)
    if screen is None:
        return
    for area in screen.areas:
        if area.type in ("NODE_EDITOR", "PROPERTIES", "SEQUENCE_EDITOR", "IMAGE_EDITOR"):
            area.tag_redraw()
