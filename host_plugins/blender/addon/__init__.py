"""StyleLock for Blender: restyle the rendered range on a StyleLock server, with the render's passes.

An extension (Blender 4.2+, `blender_manifest.toml` written by `stylelock hosts blender build`);
the StyleLock client (`stylelock.core`) and grpcio/protobuf/fileseq come as wheels inside the zip.

- `host`: every call into Blender's data (both compositor APIs, rendering, nodes, strips).
- `properties`: preferences (server, token, local server command) and `scene.stylelock`.
- `engine_params`: engine parameters as properties built from the server's schema.
- `gather`: a scene's settings -> the job (through `stylelock.core.hosts`).
- `runner`: the poller that renders, submits, follows and loads a job.
- `operators`, `panels`: the UI.
"""

from __future__ import annotations

import bpy

from . import engine_params, operators, panels, properties, runner

_CLASSES = (*properties.CLASSES, *operators.CLASSES, *panels.CLASSES)


@bpy.app.handlers.persistent
def _on_load(*_args: object) -> None:
    """After a file opens: parameter properties for the last-known engines, loaded from each scene."""
    try:
        info = properties.cached_info()
    except (KeyError, ValueError):
        return
    if info:
        engine_params.build(info)
        for scene in bpy.data.scenes:
            engine_params.load(scene, info)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register()
    bpy.app.handlers.load_post.append(_on_load)
    try:
        info = properties.cached_info()
    except (KeyError, ValueError):
        info = None
    if info:
        engine_params.build(info)


def unregister() -> None:
    if _on_load in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load)
    for run in list(runner.RUNS.values()):
        run.cancel()
    runner.RUNS.clear()
    engine_params.teardown()
    properties.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
