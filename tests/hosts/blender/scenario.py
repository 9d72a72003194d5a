"""Runs inside Blender's Python (bpy from its own venv): a user's session with the StyleLock extension.

    .venv-bpy50/bin/python tests/hosts/blender/scenario.py CONFIG.json

It installs the built zip the way Install from Disk does, renders a small Cycles scene with motion,
and drives the operators against the real server named in the config, stepping their poller
(headless Blender fires no timers). It records what it saw into `result.json` in the work folder;
`test_extension.py` checks that record and the files on disk from the project's environment. Only
the standard library and bpy (plus what the extension installed) are imported here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import bpy
from rna_layout import check_panel_calls

FRAMES = (1, 8)
SIZE = (160, 90)


def build_scene() -> Any:
    """Cycles, 160x90, 8 samples, frames 1-8: a camera panning over a textured ground, a bright
    textured ball rolling across, a transparent sky (soft alpha at the horizon)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.name = "Shot"
    sc.render.engine = "CYCLES"
    sc.cycles.samples = 8
    sc.cycles.use_denoising = False
    sc.cycles.device = "CPU"
    sc.render.resolution_x, sc.render.resolution_y = SIZE
    sc.render.resolution_percentage = 100
    sc.render.film_transparent = True
    sc.render.use_motion_blur = False
    sc.frame_start, sc.frame_end = FRAMES
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    sc.collection.objects.link(camera)
    sc.camera = camera
    camera.rotation_euler = (1.35, 0.0, 0.0)
    camera.location = (-0.6, -9.0, 2.2)
    camera.keyframe_insert("location", frame=FRAMES[0])
    camera.location = (0.6, -9.0, 2.2)
    camera.keyframe_insert("location", frame=FRAMES[1])

    ground = _textured_material("Ground", scale=6.0, strength=0.8)
    bpy.ops.mesh.primitive_plane_add(size=14.0, location=(0.0, 4.0, 0.0))
    plane = bpy.context.object
    plane.data.materials.append(ground)

    ball_material = _textured_material("Ball", scale=3.0, strength=4.0)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, location=(-2.5, 0.0, 1.0), segments=24, ring_count=12)
    ball = bpy.context.object
    ball.data.materials.append(ball_material)
    ball.keyframe_insert("location", frame=FRAMES[0])
    ball.location = (2.5, 0.0, 1.0)
    ball.rotation_euler = (0.0, 2.0, 0.0)
    ball.keyframe_insert("location", frame=FRAMES[1])
    ball.keyframe_insert("rotation_euler", frame=FRAMES[1])
    return sc


def _textured_material(name: str, *, scale: float, strength: float) -> Any:
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = scale
    noise.inputs["Detail"].default_value = 6.0
    checker = nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = scale
    mix = nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.inputs["Factor"].default_value = 0.5
    links.new(noise.outputs["Color"], mix.inputs["A"])
    links.new(checker.outputs["Color"], mix.inputs["B"])
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = strength
    links.new(mix.outputs["Result"], emission.inputs["Color"])
    links.new(emission.outputs[0], nodes["Material Output"].inputs["Surface"])
    return material


def install(zip_path: str) -> dict[str, Any]:
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
    module = sys.modules["bl_ext.user_default.stylelock"]
    import grpc

    import stylelock.core.client

    return {
        "result": sorted(result),
        "addon_enabled": "bl_ext.user_default.stylelock" in bpy.context.preferences.addons,
        "grpc_file": grpc.__file__,
        "client_file": stylelock.core.client.__file__,
        "module_file": module.__file__,
    }


def ext(name: str) -> Any:
    return sys.modules[f"bl_ext.user_default.stylelock.{name}"]


def restyle(**kwargs: Any) -> dict[str, Any]:
    """Run the Restyle operator to its end (headless: it steps its own poller); record its report."""
    ext("runner").RUNS.pop(bpy.context.scene.name, None)
    started = time.monotonic()
    try:
        outcome = sorted(bpy.ops.stylelock.restyle(**kwargs))
        error = ""
    except RuntimeError as exc:
        outcome, error = ["RAISED"], str(exc)
    run = ext("runner").RUNS.get(bpy.context.scene.name)
    record = {"outcome": outcome, "error": error, "seconds": round(time.monotonic() - started, 2)}
    if run is not None and run.ended:
        progress = run.step()
        record.update(
            state=progress.state,
            message=progress.message,
            job_id=progress.job_id,
            rendered=list(run._rendered),
            computed=list(progress.computed),
            spec=json.loads(run.request.spec.to_json()),
        )
    return record


def node_record(sc: Any, name: str) -> dict[str, Any]:
    host = ext("host")
    tree = host.compositor_tree(sc)
    node = tree.nodes.get(name)
    if node is None:
        return {}
    return {
        "bl_idname": node.bl_idname,
        "image_source": node.image.source,
        "files": {str(f): host.sequence_file(node, f) for f in range(sc.frame_start, sc.frame_end + 1)},
        "linked_to_viewer": any(
            link.to_node.bl_idname == "CompositorNodeViewer" for link in node.outputs[0].links
        ),
        "tree_api": "compositing_node_group" if hasattr(sc, "compositing_node_group") else "node_tree",
    }


def snapshot(folder: str, dest: Path) -> list[str]:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(folder, dest)
    return sorted(os.listdir(dest))


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    work = Path(config["work"])
    out: dict[str, Any] = {"version": bpy.app.version_string}
    sc = build_scene()  # first: reading factory settings would also reset the preferences
    out["install"] = install(config["zip"])
    prefs = ext("properties").preferences()
    settings = sc.stylelock

    # Preferences and engines from the server's schema.
    prefs.server = config["address"]
    out["refresh"] = sorted(bpy.ops.stylelock.refresh())
    params = ext("engine_params")
    keyframe = params.group(sc, "keyframe")
    out["keyframe_temporal_weight_default"] = keyframe.temporal_weight  # not a float property's 0
    keyframe.softness = 0.4
    settings.engine_choice = "passthrough"  # the engine menu, built from the server's list
    out["engine_via_menu"] = settings.engine
    settings.engine_choice = "keyframe"
    out["saved_after_switch"] = json.loads(settings.param_values)
    out["keyframe_softness_after_switch"] = params.group(sc, "keyframe").softness
    out["panel_calls"] = check_panel_calls(ext("panels").draw, bpy.context)

    row = settings.styles.add()
    row.path = config["style"]
    row.keyframe = False
    cache = ext("gather").CacheLayout(ext("gather").cache_root(None), sc.name)
    out["cache_folder"] = str(cache.folder)

    # Restyle with the render's vectors, then with estimated flow: the same shot, for stylelock qc.
    settings.use_vector = True
    settings.use_depth = True
    keyframe.flow = "vectors"
    out["vectors"] = restyle()
    out["vectors"]["node"] = node_record(sc, ext("host").RESULT_NODE)
    out["vectors"]["files"] = snapshot(str(cache.folder / "restyle"), work / "vectors")
    out["again"] = restyle()  # nothing missing to render, nothing to compute
    keyframe.flow = "estimated"
    out["estimated"] = restyle()
    out["estimated"]["files"] = snapshot(str(cache.folder / "restyle"), work / "estimated")
    keyframe.flow = "auto"

    # Passthrough: the colour and transport round trip, into a sequencer strip too.
    settings.engine = "passthrough"
    settings.add_strip = True
    out["passthrough"] = restyle()
    out["passthrough"]["files"] = snapshot(str(cache.folder / "restyle"), work / "passthrough")
    editor = sc.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    strip = strips.get("StyleLock")
    out["strip"] = {"elements": len(strip.elements), "start": strip.frame_start} if strip else {}
    settings.add_strip = False

    # An image sequence as the source, in a view-transform space only Blender's own config knows.
    settings.source = "SEQUENCE"
    settings.sequence_path = str(cache.folder / "plate" / "plate.####.exr")
    settings.sequence_layer = "ViewLayer.Combined"
    settings.sequence_colorspace = "Filmic Log"
    out["sequence"] = restyle()
    out["sequence"]["files"] = snapshot(str(cache.folder / "restyle"), work / "sequence")
    out["blender_ocio"] = ext("host").ocio_config_path()
    settings.source = "RENDER"

    # Preview around frame 4 (the keyframe engine's fast mode, half size).
    settings.engine = "keyframe"
    sc.frame_set(4)
    started = time.monotonic()
    out["preview"] = {
        "outcome": sorted(bpy.ops.stylelock.preview()),
        "seconds": round(time.monotonic() - started, 2),
    }
    run = ext("runner").RUNS[sc.name]
    out["preview"]["spec"] = json.loads(run.request.spec.to_json())
    out["preview"]["node"] = node_record(sc, ext("host").PREVIEW_NODE)

    # Cancel: a slower job that cannot resume anything (a new seed, EbSynth's own iteration counts),
    # stopped once its first frame has landed; the output folder starts empty, so what is left in it
    # is what the cancelled job wrote.
    for name in os.listdir(cache.folder / "restyle"):
        os.remove(cache.folder / "restyle" / name)
    keyframe.seed = 7
    keyframe.mode = "ebsynth"
    keyframe.search_vote_iters = 6
    keyframe.patchmatch_iters = 4
    bpy.ops.stylelock.restyle(wait=False)
    run = ext("runner").RUNS[sc.name]
    deadline = time.monotonic() + 120
    landed: list[int] = []
    while not landed and not (progress := run.step()).ended and time.monotonic() < deadline:
        landed += progress.landed
        time.sleep(0.01)
    out["cancel_landed_before"] = landed
    bpy.ops.stylelock.cancel()
    while not (progress := run.step()).ended and time.monotonic() < deadline:
        time.sleep(0.05)
    out["cancel"] = {
        "state": progress.state,
        "message": progress.message,
        "job_id": progress.job_id,
        "computed": list(progress.computed),
        "total": progress.total,
        "node_loaded": run.loaded is not None,
        "folder": str(cache.folder / "restyle"),
    }

    # No server at the address: one clear line in the operator's report.
    prefs.server = config["dead_address"]
    out["missing_server"] = restyle()

    # Start Local Server runs the configured command once; a second press finds it answering.
    # That server asks for an access token: the preference carries it, a wrong one is one line.
    prefs.server = config["local_address"]
    prefs.server_command = config["local_command"]
    prefs.token = config["token"]
    out["start_server"] = sorted(bpy.ops.stylelock.start_server())
    ops = ext("operators")
    deadline = time.monotonic() + 60
    while not ops.server_answers(prefs.server, prefs.token) and time.monotonic() < deadline:
        time.sleep(0.2)
    out["local_answers"] = ops.server_answers(prefs.server, prefs.token)
    out["local_answers_without_token"] = ops.server_answers(prefs.server, "")
    if out["local_answers"]:
        from stylelock.core.client import StyleLockClient

        with StyleLockClient(prefs.server, token=prefs.token) as client:
            out["local_roots"] = client.info()["allowed_roots"]
    out["start_again"] = sorted(bpy.ops.stylelock.start_server())
    prefs.token = "not-the-token-0123456789"
    out["wrong_token"] = restyle()
    prefs.token = config["token"]
    out["local_processes"] = len(ops.LOCAL_SERVER)
    for process in ops.LOCAL_SERVER.values():
        process.terminate()
        process.wait(20)
    (work / "result.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    try:
        main(sys.argv[-1])
    except Exception:
        traceback.print_exc()
        sys.exit(1)
