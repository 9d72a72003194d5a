"""From a scene's StyleLock settings to a `runner.Request`, on Blender's main thread.

The job itself is described by `stylelock.core.hosts` (`PanelSettings` -> `build_spec`, the
preview job, the plate frames the engine's temporal contract reads, the colour-space choice), so
Blender, Nuke and the CLI describe the same job for the same settings.
"""

from __future__ import annotations

import json
import os
from typing import Any

from stylelock.core.client import StyleLockClient
from stylelock.core.errors import SpecError
from stylelock.core.hosts.cache import CacheLayout, cache_root
from stylelock.core.hosts.fields import engine_description, param_fields
from stylelock.core.hosts.host_colour import plate_colour
from stylelock.core.hosts.preview import preview_spec
from stylelock.core.hosts.restyle import PanelSettings, build_spec, frames_to_render
from stylelock.core.sequence import FramePattern, format_frames

from . import engine_params, host, properties
from .runner import PlateRender, Request

#: Seconds a query may take (the server answers at once when it is up; refused connections fail fast).
QUERY_TIMEOUT = 5.0
_HERE = os.path.dirname(os.path.abspath(__file__))


def bundled_colorspaces() -> frozenset[str]:
    """The names the server's bundled OCIO config resolves (written into the zip at build time)."""
    path = os.path.join(_HERE, "bundled_colorspaces.json")
    if not os.path.isfile(path):
        return frozenset()
    with open(path, encoding="utf-8") as handle:
        return frozenset(json.load(handle))


def fetch_info(context: Any) -> dict[str, Any]:
    """Ask the server for its engines and schemas; remember them in the preferences and rebuild the
    parameter properties. Raises `ServerUnavailableError` (one line, naming the address) when none answers."""
    prefs = properties.preferences(context)
    with StyleLockClient(prefs.server, timeout=QUERY_TIMEOUT, token=prefs.token or None) as client:
        info = client.info()
    prefs.server_info = json.dumps(info)
    if engine_params.build(info):
        for scene in context.blend_data.scenes:
            engine_params.load(scene, info)
    return info


def style_rows(settings: Any) -> str:
    """The panel's style rows as `styles.parse_style_rows` reads them, with absolute paths."""
    rows = []
    for row in settings.styles:
        path = host.absolute(row.path)
        if path:
            rows.append(f"{row.frame}={path}" if row.keyframe else path)
    return "\n".join(rows)


def build_request(context: Any, *, preview: bool, info: dict[str, Any]) -> Request:
    """The Restyle (or Preview) of the context's scene as its settings describe it."""
    sc = context.scene
    settings = sc.stylelock
    prefs = properties.preferences(context)
    engine = settings.engine
    fields = param_fields(info, engine)
    description = engine_description(info, engine)
    layout = CacheLayout(cache_root(host.blend_path() or None), sc.name)
    shot = host.scene_frames(sc)
    view_layer = settings.view_layer or context.view_layer.name
    render = settings.source == "RENDER"
    if render:
        space, config = plate_colour(
            host.working_space(),
            bundled_names=bundled_colorspaces(),
            server_colour=info.get("colour", {}),
            host_config=host.ocio_config_path(),
        )
        layer = f"{view_layer}.Combined"
    else:
        space, config = plate_colour(
            settings.sequence_colorspace_name or host.working_space(),
            bundled_names=bundled_colorspaces(),
            server_colour=info.get("colour", {}),
            host_config=host.ocio_config_path(),
        )
        layer = settings.sequence_layer
    panel = PanelSettings(
        engine=engine,
        frames=settings.frames.strip() or format_frames(shot),
        values=engine_params.values(sc, info, engine),
        style_rows=style_rows(settings),
        colorspace=space,
        ocio_config=config,
        layer=layer,
        proxy=settings.proxy,
        server=prefs.server,
    )
    spec = build_spec(panel, layout, fields)
    if not render:
        if not settings.sequence_path:
            raise SpecError("choose the image sequence to restyle (Source: Image Sequence)")
        spec = spec.with_changes(plate=host.absolute(settings.sequence_path))
    elif settings.use_depth:
        spec = spec.with_changes(guides={"depth": f"{view_layer}.Depth.Z"})
    node = host.RESULT_NODE
    if preview:
        spec = preview_spec(spec, sc.frame_current, description, layout.preview_pattern)
        node = host.PREVIEW_NODE
    layout.make_folders()
    plan = None
    if render:
        needed = frames_to_render(spec, description, fields, shot)
        plate = FramePattern.parse(layout.plate_pattern)
        missing = needed if settings.rerender else [f for f in needed if not os.path.isfile(plate.path(f))]
        plan = PlateRender(
            view_layer=view_layer,
            pattern=layout.plate_pattern,
            frames=tuple(missing),
            shot=tuple(shot),
            vector=settings.use_vector,
            depth=settings.use_depth,
        )
    return Request(
        scene=sc.name,
        address=prefs.server,
        spec=spec,
        node=node,
        colorspace=space,
        render=plan,
        token=prefs.token or None,  # empty: $STYLELOCK_TOKEN, as every other call
        add_strip=settings.add_strip and not preview,
        label="Preview" if preview else "Restyle",
    )
