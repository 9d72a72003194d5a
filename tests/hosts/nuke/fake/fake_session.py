"""Test-side controls of the fake Nuke: the script's state, the main-thread loop, user actions.

None of this is Nuke API: the plugin never imports it. Tests use it to act as the user (set a knob,
press a button, cancel a progress bar), to pump `executeInMainThread` calls as Nuke's event loop
would, and to save / open a script for `nuke -t`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stylelock.core.sequence import FramePattern


@dataclass
class State:
    root: Any = None
    context: list[Any] = field(default_factory=list)
    this: list[tuple[Any, Any]] = field(default_factory=list)
    main_queue: queue.Queue = field(default_factory=queue.Queue)
    tasks: list[Any] = field(default_factory=list)
    renders: list[tuple[str, int]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    menu: dict[str, Any] = field(default_factory=dict)
    frame: int = 1
    user_cancels: bool = False
    counters: dict[str, int] = field(default_factory=dict)
    script_changes_call_knob_changed: bool = True
    user_editing: bool = False
    in_knob_changed: int = 0


STATE = State()


def reset() -> None:
    """A new, empty script."""
    import nuke

    global STATE
    STATE = State()
    STATE.root = nuke.Node("Root", None)
    STATE.root._knobs["name"]._value = ""  # an unsaved script
    STATE.context = [STATE.root]


def unique_name(cls: str) -> str:
    STATE.counters[cls] = STATE.counters.get(cls, 0) + 1
    return f"{cls}{STATE.counters[cls]}"


def _walk(node: Any):
    yield node
    for child in node._children:
        yield from _walk(child)


def find(name: str) -> Any:
    """`nuke.toNode`: a name in the current group, or a full name (`Group1.Read1`) from the root."""
    scope = STATE.context[-1]
    for child in scope._children:
        if child._knobs["name"]._value == name:
            return child
    for node in _walk(STATE.root):
        if node is not STATE.root and node.fullName() == name:
            return node
    return None


def frame_path(pattern: str, number: int) -> str:
    return FramePattern.parse(pattern).path(number)


def _source(node: Any) -> Any:
    """Follow inputs (and a Group's Input nodes to the group's inputs) up to a Read."""
    seen = 0
    while node is not None and node.Class() != "Read":
        seen += 1
        if seen > 50:
            raise AssertionError("the fake follows at most 50 nodes upstream")
        if node.Class() == "Input":
            group = node._parent
            inputs = [c for c in group._children if c.Class() == "Input"]
            node = group._inputs.get(inputs.index(node))
        else:
            node = node._inputs.get(0)
    if node is None:
        raise AssertionError("nothing upstream: the fake renders from a Read")
    return node


def upstream_read(write: Any) -> Any:
    return _source(write._inputs.get(0))


def frame_range(node: Any) -> tuple[int, int]:
    read = _source(node)
    return int(read._knobs["first"]._value), int(read._knobs["last"]._value)


def layers_of(node: Any) -> list[str]:
    from stylelock.core.exr import read_exr_header

    read = _source(node)
    header = read_exr_header(frame_path(str(read._knobs["file"]._value), int(read._knobs["first"]._value)))
    layers = []
    for channel in header.main.channels:
        layer = channel.rsplit(".", 1)[0] if "." in channel else "rgba"
        if layer not in layers:
            layers.append(layer)
    return layers


def run_python(code: str, node: Any, knob: Any) -> None:
    """Run a button's or knobChanged's Python as Nuke does, with thisNode/thisKnob set."""
    import nuke

    STATE.this.append((node, knob))
    try:
        exec(compile(code, f"<{node._knobs['name']._value}.{knob.name()}>", "exec"), {"nuke": nuke})
    finally:
        STATE.this.pop()


# -- the user --------------------------------------------------------------------------------------
def read_node(pattern: str, first: int, last: int) -> Any:
    """The user's Read of a plate, in the root."""
    import nuke

    return nuke.nodes.Read(file=pattern, first=first, last=last)


def knob_changed(knob: Any) -> None:
    """Run the owning node's knobChanged for `knob`, as Nuke 17 does for user and script changes
    alike (`STATE.script_changes_call_knob_changed` False: as Nuke 15/16 with the panel closed)."""
    node = knob.node
    if node is None or node._class == "Root" or STATE.in_knob_changed > 8:
        return
    if not STATE.script_changes_call_knob_changed and not STATE.user_editing:
        return
    code = node._knobs["knobChanged"]._value if "knobChanged" in node._knobs else ""
    if code:
        STATE.in_knob_changed += 1
        try:
            run_python(code, node, knob)
        finally:
            STATE.in_knob_changed -= 1


def user_sets(node: Any, name: str, value: Any) -> None:
    """The user edits a knob in the properties panel: the value changes, then knobChanged runs."""
    STATE.user_editing = True
    try:
        node.knob(name).setValue(value)
    finally:
        STATE.user_editing = False


def press(node: Any, name: str) -> None:
    node.knob(name).execute()


def pump(until: Callable[[], bool] | None = None, timeout: float = 60.0) -> None:
    """Run queued `executeInMainThread` calls on this (the main) thread until `until()` or the queue is
    empty and nothing arrives for a moment."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            call, args, kwargs = STATE.main_queue.get(timeout=0.02)
        except queue.Empty:
            if until is not None and until():
                return
            if until is None and time.monotonic() - quiet_since > 0.3:
                return
            continue
        call(*args, **kwargs)
        quiet_since = time.monotonic()
    raise AssertionError(f"the main thread waited {timeout} s for a condition that never came")


# -- scripts ---------------------------------------------------------------------------------------
def _knob_state(knob: Any) -> dict[str, Any]:
    state = {"class": type(knob).__name__, "label": knob._label, "value": knob._value, "flags": knob.flags}
    if hasattr(knob, "_values"):
        state["values"] = knob._values
    return state


def _node_state(node: Any) -> dict[str, Any]:
    return {
        "class": node.Class(),
        "knobs": {name: _knob_state(knob) for name, knob in node._knobs.items()},
        "inputs": {str(i): source.fullName() for i, source in node._inputs.items()},
        "children": [_node_state(child) for child in node._children],
    }


def save_script(path: str) -> None:
    """Save the script (the fake's own format) for `nuke.scriptOpen` in another process."""
    assert threading.current_thread() is threading.main_thread()
    with open(path, "w") as handle:
        json.dump(_node_state(STATE.root), handle)


def load_script(path: str) -> None:
    import nuke

    with open(path) as handle:
        data = json.load(handle)
    reset()
    links: list[tuple[Any, int, str]] = []

    def build(state: dict[str, Any], parent: Any) -> Any:
        node = STATE.root if parent is None else nuke.Node(state["class"], parent)
        for name, knob_state in state["knobs"].items():
            cls = getattr(nuke, knob_state["class"])
            knob = (
                cls(name, knob_state["label"], knob_state["values"]) if "values" in knob_state else cls(name)
            )
            knob._label, knob._value, knob.flags = (
                knob_state["label"],
                knob_state["value"],
                knob_state["flags"],
            )
            node._attach(knob)
        links.extend((node, int(i), source) for i, source in state["inputs"].items())
        for child in state["children"]:
            build(child, node)
        return node

    build(data, None)
    for node, index, source in links:
        node._inputs[index] = find(source)
