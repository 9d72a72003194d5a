"""The StyleLock node's behaviour: its knobs, Restyle, Preview, Cancel, and landing frames in the comp.

Only `host` calls Nuke; job specs, parameter fields, style rows, cache folders, previews and the job
poller come from `stylelock.core.hosts`. Threads: buttons run on Nuke's main thread, which reads the
knobs and renders the upstream range (Nuke renders there), then hands the network work to a
`Runner` thread. The runner shows a `nuke.ProgressTask`, polls the job and touches the node only
through `host.in_main_thread`. Under `nuke -t` there is no main-thread loop: `restyle(node,
wait=True)` runs the same steps in the calling thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from stylelock.core.client import StyleLockClient
from stylelock.core.errors import SpecError, StyleLockError
from stylelock.core.hosts import job as jobs
from stylelock.core.hosts.cache import CacheLayout, cache_root, clear_staging, prune, publish, staging
from stylelock.core.hosts.fields import ParamField, SavedValues, engine_description, param_fields
from stylelock.core.hosts.messages import one_line
from stylelock.core.hosts.preview import preview_spec
from stylelock.core.hosts.restyle import DEFAULT_SERVER, PanelSettings, build_spec, frames_to_render
from stylelock.core.jobspec import JobSpec
from stylelock.core.sequence import parse_frames
from stylelock_nuke import host
from stylelock_nuke.runner import Request, Runner

log = logging.getLogger(__name__)

PARAM_PREFIX = "slp_"
SAVED_KNOB = "sl_saved_params"
BUILT_FOR_KNOB = "sl_params_engine"
"""The engine the parameter knobs were built for."""
KNOB_CHANGED = "import stylelock_nuke.node\nstylelock_nuke.node.knob_changed()"
STYLE_ROWS_HELP = "one per line: 1001=/path/paint.1001.exr for a painted keyframe, or a look image path"
STYLE_FRAMES_HELP = "frames at which the style input is a painted keyframe; empty: the first frame"

#: Server info per address, fetched off the main thread (Refresh) and used to build knobs and jobs.
_INFO: dict[str, dict[str, Any]] = {}
#: The runner of each node that has one, by the node's full name.
RUNNERS: dict[str, Runner] = {}
#: What each node's output showed last, per kind ("restyle", "preview"): (pattern, first, last).
SHOWN: dict[str, dict[str, tuple[str, int, int]]] = {}


# -- creating the node ---------------------------------------------------------------------------
def create() -> Any:
    """Nodes > StyleLock > StyleLock: the node with its fixed knobs; engines load in the background."""
    group = host.create_group("StyleLock1", KNOB_CHANGED)
    server = os.environ.get("STYLELOCK_SERVER", DEFAULT_SERVER)
    add = host.add_knob
    add(group, "tab", "stylelock", "StyleLock")
    add(group, "string", "server", "server", server, tooltip="host:port or unix:///path of the server")
    add(group, "button", "refresh", "Refresh", command=_button("refresh"), new_line=False)
    add(group, "enum", "engine", "engine", choices=["keyframe"], tooltip="the engines the server offers")
    add(group, "string", "frames", "frame range", "", tooltip="1001-1024, 1001-1100x2; empty: the input's")
    add(group, "string", "colorspace", "input colour space", "", tooltip="empty: the working space")
    add(
        group,
        "path",
        "ocio_config",
        "OCIO config",
        "",
        tooltip="empty: the script's custom config, else the server's",
    )
    add(
        group,
        "enum",
        "layer",
        "layer",
        choices=["rgba"],
        tooltip="the layer restyled; all others pass through",
    )
    add(group, "multiline", "styles", "style rows", "", tooltip=STYLE_ROWS_HELP)
    add(group, "string", "style_frames", "style input frames", "", tooltip=STYLE_FRAMES_HELP)
    add(group, "float", "proxy", "proxy", 1.0, value_range=(0.05, 1.0))
    add(group, "button", "restyle", "Restyle", command=_button("restyle"))
    add(group, "button", "preview", "Preview", command=_button("preview"), new_line=False)
    add(group, "button", "cancel", "Cancel", command=_button("cancel"), new_line=False)
    add(group, "enum", "show", "show", choices=["restyle", "preview"], new_line=False)
    add(group, "text", "status", "status", "")
    add(group, "text", "params_label", "", "<b>engine parameters</b>")
    add(group, "string", SAVED_KNOB, "", "", hidden=True)
    add(group, "string", BUILT_FOR_KNOB, "", "", hidden=True)
    refresh(group)
    return group


def _button(action: str) -> str:
    return f"import stylelock_nuke.node\nstylelock_nuke.node.{action}(nuke.thisNode())"


def set_status(node: Any, line: str, *, error: bool = False) -> None:
    host.show_status(node, line, error=error)


# -- engines and their parameter knobs -------------------------------------------------------------
def refresh(node: Any) -> None:
    """Ask the server for its engines off the main thread, then rebuild the engine and parameter knobs."""
    address = str(host.knob_text(node, "server") or DEFAULT_SERVER)
    name = host.node_name(node)
    set_status(node, f"asking {address} for its engines")

    def fetch() -> None:
        try:
            with StyleLockClient(address, timeout=5.0) as client:
                info = client.info()
        except StyleLockError as exc:
            host.in_main_thread(_report, name, one_line(exc))
            return
        _INFO[address] = info
        host.in_main_thread(_apply_info, name, address)

    if host.gui():
        threading.Thread(target=fetch, name="stylelock-refresh", daemon=True).start()
    else:
        _fetch_now(node, address)


def _fetch_now(node: Any, address: str) -> None:
    with StyleLockClient(address, timeout=5.0) as client:
        _INFO[address] = client.info()
    _apply_info(host.node_name(node), address)


def _report(name: str, line: str) -> None:
    set_status(host.node_by_name(name), line, error=True)


def _apply_info(name: str, address: str) -> None:
    node = host.node_by_name(name)
    info = _INFO[address]
    engines = [e["name"] for e in info["engines"]]
    current = str(host.knob_value(node, "engine") or "")
    host.set_choices(node, "engine", engines)
    host.set_knob(node, "engine", current if current in engines else engines[0])
    rebuild_params(node)
    layers = ["rgba", *[layer for layer in _layers(node) if layer != "rgba"]]
    chosen = str(host.knob_value(node, "layer") or "rgba")
    host.set_choices(node, "layer", layers)
    host.set_knob(node, "layer", chosen if chosen in layers else "rgba")
    set_status(node, f"{len(engines)} engines on {address}")


def _layers(node: Any) -> list[str]:
    return host.upstream_layers(node)


def _fields(node: Any) -> list[ParamField]:
    address = str(host.knob_text(node, "server") or DEFAULT_SERVER)
    info = _INFO.get(address)
    if info is None:
        raise SpecError(f"no engine list from {address} yet: press Refresh")
    return param_fields(info, str(host.knob_value(node, "engine")))


def rebuild_params(node: Any) -> None:
    """The current engine's parameter knobs, with the values saved for it (switching back restores
    them). The knobs' values now are saved first, under the engine they were built for, so values a
    script set (Nuke 15/16 call knobChanged for the user's edits only) are never lost."""
    saved = _saved_with_current_knobs(node)
    for name in host.knob_names(node):
        if name.startswith(PARAM_PREFIX):
            host.remove_knob(node, name)
    fields = _fields(node)
    engine = str(host.knob_value(node, "engine"))
    host.set_knob(node, SAVED_KNOB, saved.to_text())
    host.set_knob(node, BUILT_FOR_KNOB, engine)
    values = saved.values_for(fields)
    for field in fields:
        value = values[field.name]
        kind = field.kind
        host.add_knob(
            node,
            kind,
            PARAM_PREFIX + field.name,
            field.label,
            "" if value is None and kind in ("string", "path") else value,
            tooltip=field.help,
            choices=field.choices,
            value_range=field.slider_range() if kind in ("float", "int") else None,
        )


def _saved_with_current_knobs(node: Any) -> SavedValues:
    saved = SavedValues(str(host.knob_text(node, SAVED_KNOB) or ""))
    built_for = host.knob_text(node, BUILT_FOR_KNOB)
    if built_for:
        for name, value in param_values(node).items():
            saved.set(built_for, name, value)
    return saved


def param_values(node: Any) -> dict[str, Any]:
    """The parameter knobs' values, by parameter name (text knobs as their raw text)."""
    return {name[len(PARAM_PREFIX) :]: value for name, value in host.knob_values(node, PARAM_PREFIX).items()}


def knob_changed() -> None:
    """The group's knobChanged: engine switches rebuild the parameter knobs, edits are remembered."""
    node = host.this_node()
    name = host.this_knob_name()
    try:
        if name == "engine":
            rebuild_params(node)
        elif name.startswith(PARAM_PREFIX):
            host.set_knob(node, SAVED_KNOB, _saved_with_current_knobs(node).to_text())
        elif name == "show":
            _show(node)
        elif name == "inputChange" and host.knob_text(node, "server"):
            layers = ["rgba", *[layer for layer in _layers(node) if layer != "rgba"]]
            host.set_choices(node, "layer", layers)
    except StyleLockError as exc:
        set_status(node, one_line(exc), error=True)
    except LookupError as exc:  # nothing connected, a lost inner node: a line, never a traceback
        set_status(node, str(exc), error=True)


# -- restyle, preview, cancel ----------------------------------------------------------------------
def _settings(node: Any) -> tuple[PanelSettings, CacheLayout]:
    layout = CacheLayout(cache_root(host.script_path() or None), host.node_name(node))
    frames = str(host.knob_text(node, "frames") or "").strip()
    if not frames:
        first, last = host.upstream_range(node)
        frames = f"{first}-{last}"
    style_frames: tuple[int, ...] = ()
    if host.input_node(node, 1) is not None:
        text = str(host.knob_text(node, "style_frames") or "").strip()
        style_frames = tuple(parse_frames(text)) if text else (parse_frames(frames)[0],)
    settings = PanelSettings(
        engine=str(host.knob_value(node, "engine")),
        frames=frames,
        values=param_values(node),
        style_rows=str(host.knob_text(node, "styles") or ""),
        style_input_frames=style_frames,
        colorspace=str(host.knob_text(node, "colorspace") or "") or host.working_space(),
        ocio_config=str(host.knob_text(node, "ocio_config") or "") or host.script_ocio_config(),
        layer=str(host.knob_value(node, "layer") or ""),
        proxy=float(host.knob_value(node, "proxy") or 1.0),
        server=str(host.knob_text(node, "server") or DEFAULT_SERVER),
    )
    return settings, layout


def _runs(frames: list[int]) -> list[tuple[int, int, int]]:
    """Frames as (first, last, step) runs for `nuke.execute`."""
    runs: list[tuple[int, int, int]] = []
    for frame in frames:
        if runs:
            first, last, step = runs[-1]
            if first == last and frame > last:
                runs[-1] = (first, frame, frame - last)
                continue
            if frame - last == step:
                runs[-1] = (first, frame, step)
                continue
        runs.append((frame, frame, 1))
    return runs


def _render_inputs(node: Any, spec: JobSpec, settings: PanelSettings, layout: CacheLayout) -> None:
    """Render into the cache the plate frames the job reads (all channels, raw) and the style input
    at its keyframes; plate frames cached from an older, longer range are removed."""
    first, last = host.upstream_range(node)
    shot = list(range(first, last + 1))
    needed = frames_to_render(spec, _engine(node), _fields(node), shot)
    layout.make_folders()
    prune(layout.plate_pattern, shot)
    clear_staging(layout.plate_pattern)
    host.render(node, host.PLATE_WRITE, staging(layout.plate_pattern), _runs(needed))
    publish(layout.plate_pattern, needed)
    if settings.style_input_frames:
        style_frames = list(settings.style_input_frames)
        clear_staging(layout.style_pattern)
        host.render(node, host.STYLE_WRITE, staging(layout.style_pattern), _runs(style_frames))
        publish(layout.style_pattern, style_frames)


def _engine(node: Any) -> Mapping[str, Any]:
    address = str(host.knob_text(node, "server") or DEFAULT_SERVER)
    if address not in _INFO:
        raise SpecError(f"no engine list from {address} yet: press Refresh")
    return engine_description(_INFO[address], str(host.knob_value(node, "engine")))


def job_spec(node: Any, *, preview: bool) -> tuple[JobSpec, PanelSettings, CacheLayout]:
    """The job the node's knobs describe (the preview job around the current frame with `preview`)."""
    settings, layout = _settings(node)
    spec = build_spec(settings, layout, _fields(node))
    if preview:
        spec = preview_spec(spec, host.current_frame(), _engine(node), layout.preview_pattern)
    return spec, settings, layout


def _start(node: Any, *, preview: bool, wait: bool) -> jobs.Progress | None:
    name = host.node_name(node)
    running = RUNNERS.get(name)
    if running is not None and not running.finished.is_set():
        set_status(node, "a job is already running for this node: Cancel it first", error=True)
        return None
    try:
        spec, settings, layout = job_spec(node, preview=preview)
        set_status(node, "rendering the input range")
        _render_inputs(node, spec, settings, layout)
    except (StyleLockError, LookupError) as exc:
        line = one_line(exc) if isinstance(exc, StyleLockError) else str(exc)
        set_status(node, line, error=True)
        return jobs.Progress(state=jobs.FAILED, message=line, error=StyleLockError(line))
    runner = Runner(Request(name, settings.server, spec, preview), gui=host.gui() and not wait)
    runner.on_landed = _record_shown
    RUNNERS[name] = runner
    if runner.gui:
        runner.start()
        return None
    return runner.run()


def restyle(node: Any, *, wait: bool = False) -> jobs.Progress | None:
    """The Restyle button: render the upstream range, restyle it on the server, show the frames."""
    return _when_engines_known(node, preview=False, wait=wait)


def preview(node: Any, *, wait: bool = False) -> jobs.Progress | None:
    """The Preview button: the current frame and two each side, at half size, in the engine's fast mode."""
    return _when_engines_known(node, preview=True, wait=wait)


def _when_engines_known(node: Any, *, preview: bool, wait: bool) -> jobs.Progress | None:
    """Start at once when the server's engine list is known; else fetch it first, off the main
    thread in the GUI (then start on the main thread), in place under `nuke -t`."""
    address = str(host.knob_text(node, "server") or DEFAULT_SERVER)
    if address in _INFO:
        return _start(node, preview=preview, wait=wait)
    if not host.gui() or wait:
        _fetch_now(node, address)
        return _start(node, preview=preview, wait=wait)
    name = host.node_name(node)
    set_status(node, f"asking {address} for its engines")

    def fetch() -> None:
        try:
            with StyleLockClient(address, timeout=5.0) as client:
                _INFO[address] = client.info()
        except StyleLockError as exc:
            host.in_main_thread(_report, name, one_line(exc))
            return
        host.in_main_thread(_start_by_name, name, preview)

    threading.Thread(target=fetch, name="stylelock-info", daemon=True).start()
    return None


def _start_by_name(name: str, preview: bool) -> None:
    node = host.node_by_name(name)
    _apply_info(name, str(host.knob_text(node, "server") or DEFAULT_SERVER))
    _start(node, preview=preview, wait=False)


def cancel(node: Any) -> None:
    """The Cancel button: the server stops the job after the frame in hand."""
    runner = RUNNERS.get(host.node_name(node))
    if runner is None or runner.finished.is_set():
        set_status(node, "nothing to cancel")
        return
    runner.cancel()
    set_status(node, "cancelling")


def _show(node: Any) -> None:
    """The `show` knob: the output switches between the restyled frames and the last preview, as
    the node's jobs recorded them (nothing is re-derived from the knobs here)."""
    shown = str(host.knob_value(node, "show"))
    recorded = SHOWN.get(host.node_name(node), {}).get(shown)
    if recorded is None:  # nothing made in this session (a reopened script): the cache's frames
        settings, layout = _settings(node)
        frames = parse_frames(settings.frames)
        pattern = layout.preview_pattern if shown == "preview" else layout.output_pattern
        recorded = (pattern, frames[0], frames[-1])
    host.point_read(node, *recorded)


def _record_shown(name: str, kind: str, pattern: str, first: int, last: int) -> None:
    SHOWN.setdefault(name, {})[kind] = (pattern, first, last)
