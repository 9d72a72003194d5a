"""StyleLock's operators: Restyle, Preview, Cancel, Refresh, Start Local Server, style rows.

Restyle and Preview are modal in the UI: a timer calls `runner.Run.step()` (the poller), the status
bar shows its progress and Esc cancels; Blender renders missing plate frames with its own render
job. Without a UI (`blender -b`, bpy as a module) the same operator steps the same run in a loop
(`wait=True`, the default) or leaves it in `runner.RUNS` for the caller to step (`wait=False`).
Every failure reaches the user as one line in the operator's report (`core.hosts.messages`).
"""

import logging
import os
import shlex
import subprocess
import tempfile
from typing import Any

import bpy
from bpy.props import BoolProperty

from stylelock.core.client import StyleLockClient
from stylelock.core.errors import StyleLockError
from stylelock.core.hosts import job as jobs
from stylelock.core.hosts.messages import one_line

from . import gather, host, properties, runner

log = logging.getLogger(__name__)

#: Seconds between two polls of a running job in the UI.
POLL_SECONDS = 0.2
#: The local server this session started, if any.
LOCAL_SERVER: dict[str, subprocess.Popen] = {}


def _fail(operator: Any, exc: BaseException) -> set[str]:
    line = one_line(exc) if isinstance(exc, StyleLockError) else " ".join(str(exc).split())
    operator.report({"ERROR"}, f"StyleLock: {line}")
    return {"CANCELLED"}


class _JobOperator:
    """What Restyle and Preview share: gather on the main thread, then step a `runner.Run`."""

    # Plain class attributes, not annotations: Blender reads a class's annotations as its properties.
    preview = False
    _timer = None
    _run = None

    wait: BoolProperty(  # type: ignore[valid-type]
        name="Wait",
        description="Without a UI: run to the end before returning (off: step runner.RUNS[scene] yourself)",
        default=True,
        options={"SKIP_SAVE"},
    )

    def _start(self, context: Any, *, invoke_render: bool) -> runner.Run | None:
        scene = context.scene.name
        running = runner.RUNS.get(scene)
        if running is not None and not running.ended:
            raise StyleLockError("a StyleLock job is already running for this scene: cancel it first")
        info = gather.fetch_info(context)
        request = gather.build_request(context, preview=self.preview, info=info)
        run = runner.Run(request, invoke_render=invoke_render)
        runner.RUNS[scene] = run
        return run

    def _end(self, context: Any, progress: jobs.Progress) -> set[str]:
        context.scene.stylelock.status = progress.message
        if progress.state == jobs.FINISHED:
            self.report({"INFO"}, f"StyleLock: {progress.message}")
            return {"FINISHED"}
        if progress.state == jobs.CANCELLED:
            self.report({"WARNING"}, f"StyleLock: {progress.message}")
            return {"CANCELLED"}
        self.report({"ERROR"}, f"StyleLock: {progress.message}")
        return {"CANCELLED"}

    def execute(self, context: Any) -> set[str]:
        try:
            run = self._start(context, invoke_render=False)
        except (StyleLockError, LookupError, RuntimeError, OSError) as exc:
            return _fail(self, exc)
        assert run is not None
        if not self.wait:
            return {"FINISHED"}
        return self._end(context, run.wait())

    def invoke(self, context: Any, event: Any) -> set[str]:
        if host.background() or context.window is None:
            return self.execute(context)
        try:
            self._run = self._start(context, invoke_render=True)
        except (StyleLockError, LookupError, RuntimeError, OSError) as exc:
            return _fail(self, exc)
        wm = context.window_manager
        self._timer = wm.event_timer_add(POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        host.status(context, f"StyleLock {self.bl_label}: starting (Esc to cancel)")
        return {"RUNNING_MODAL"}

    def modal(self, context: Any, event: Any) -> set[str]:
        run = self._run
        assert run is not None
        if event.type == "ESC" and event.value == "PRESS":
            run.cancel()
        if event.type != "TIMER" or event.timer is not self._timer:
            return {"PASS_THROUGH"}
        progress = run.step()
        context.window_manager.progress_update(round(100 * progress.fraction))
        host.status(context, f"StyleLock {self.bl_label}: {progress.message} (Esc to cancel)")
        context.scene.stylelock.status = progress.message
        host.redraw(context)
        if not progress.ended:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        context.window_manager.progress_end()
        host.status(context, None)
        return self._end(context, progress)


class STYLELOCK_OT_restyle(_JobOperator, bpy.types.Operator):
    """Render the missing plate frames, restyle the range on the server and load the result into
    the compositor"""

    bl_idname = "stylelock.restyle"
    bl_label = "Restyle"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set


class STYLELOCK_OT_preview(_JobOperator, bpy.types.Operator):
    """Restyle the current frame and two each side at half size in the engine's fast mode"""

    bl_idname = "stylelock.preview"
    bl_label = "Preview"
    bl_options = {"REGISTER"}  # noqa: RUF012 - Blender reads a set
    preview = True


class STYLELOCK_OT_cancel(bpy.types.Operator):
    """Stop the scene's StyleLock job after the frame in hand (finished frames stay)"""

    bl_idname = "stylelock.cancel"
    bl_label = "Cancel"

    def execute(self, context: Any) -> set[str]:
        run = runner.RUNS.get(context.scene.name)
        if run is None or run.ended:
            self.report({"INFO"}, "StyleLock: nothing is running for this scene")
            return {"CANCELLED"}
        run.cancel()
        return {"FINISHED"}


class STYLELOCK_OT_refresh(bpy.types.Operator):
    """Ask the server for its engines and their parameters"""

    bl_idname = "stylelock.refresh"
    bl_label = "Refresh Engines"

    def execute(self, context: Any) -> set[str]:
        try:
            info = gather.fetch_info(context)
        except StyleLockError as exc:
            return _fail(self, exc)
        names = ", ".join(engine["name"] for engine in info.get("engines", ()))
        self.report({"INFO"}, f"StyleLock: {names}")
        return {"FINISHED"}


def server_answers(address: str, token: str = "") -> bool:
    """True when a StyleLock server answers at `address` (its info; the health service's stubs are
    not among the wheels the extension carries)."""
    try:
        with StyleLockClient(address, timeout=2.0, token=token or None) as client:
            client.info()
    except StyleLockError:
        return False
    return True


def server_command(template: str, address: str) -> list[str]:
    """The local server's command line: `template` split like a shell would, then {address} and
    {blender_ocio} filled into each argument (so a path with spaces stays one argument)."""
    values = {"{address}": address, "{blender_ocio}": os.path.dirname(host.ocio_config_path())}
    arguments = []
    for argument in shlex.split(template, posix=os.name != "nt"):
        for key, value in values.items():
            argument = argument.replace(key, value)
        arguments.append(argument)
    return arguments


class STYLELOCK_OT_start_server(bpy.types.Operator):
    """Start the configured local server command when no server answers at the address"""

    bl_idname = "stylelock.start_server"
    bl_label = "Start Local Server"

    def execute(self, context: Any) -> set[str]:
        prefs = properties.preferences(context)
        if server_answers(prefs.server, prefs.token):
            self.report({"INFO"}, f"StyleLock: a server already answers at {prefs.server}")
            return {"FINISHED"}
        command = server_command(prefs.server_command, prefs.server)
        if not command:
            self.report({"ERROR"}, "StyleLock: set the local server command in the preferences")
            return {"CANCELLED"}
        log_path = os.path.join(tempfile.gettempdir(), "stylelock-server.log")
        try:
            with open(log_path, "ab") as sink:
                process = subprocess.Popen(
                    command,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=os.name != "nt",
                )
        except OSError as exc:
            self.report({"ERROR"}, f"StyleLock: cannot run {command[0]!r}: {exc.strerror or exc}")
            return {"CANCELLED"}
        LOCAL_SERVER[prefs.server] = process
        self.report({"INFO"}, f"StyleLock: started the local server (pid {process.pid}; log {log_path})")
        return {"FINISHED"}


class STYLELOCK_OT_style_add(bpy.types.Operator):
    """Add a style reference row (a painted keyframe of the current frame, or a look image)"""

    bl_idname = "stylelock.style_add"
    bl_label = "Add Style"

    def execute(self, context: Any) -> set[str]:
        settings = context.scene.stylelock
        row = settings.styles.add()
        row.frame = context.scene.frame_current
        settings.active_style = len(settings.styles) - 1
        return {"FINISHED"}


class STYLELOCK_OT_style_remove(bpy.types.Operator):
    """Remove the selected style row"""

    bl_idname = "stylelock.style_remove"
    bl_label = "Remove Style"

    def execute(self, context: Any) -> set[str]:
        settings = context.scene.stylelock
        if 0 <= settings.active_style < len(settings.styles):
            settings.styles.remove(settings.active_style)
            settings.active_style = max(0, settings.active_style - 1)
        return {"FINISHED"}


CLASSES = (
    STYLELOCK_OT_restyle,
    STYLELOCK_OT_preview,
    STYLELOCK_OT_cancel,
    STYLELOCK_OT_refresh,
    STYLELOCK_OT_start_server,
    STYLELOCK_OT_style_add,
    STYLELOCK_OT_style_remove,
)
