"""Every call StyleLock makes into Nuke, in one module, so each can be checked against Foundry's
Nuke Python API reference (learn.foundry.com/nuke/developers/<version>/pythondevguide).

The rest of the plugin (`node`, `farm`, `panel`) calls only these functions; everything that is
not a Nuke call lives in `stylelock.core.hosts`. The tests run this module against a fake `nuke`
that implements exactly the calls below and fails on any other.

Calls used (Nuke 15-17): nuke.GUI, nuke.menu().addMenu/addCommand, nuke.createNode, nuke.nodes.Input/
Output/Read/Write, nuke.toNode, nuke.thisNode, nuke.thisKnob, nuke.root, nuke.frame, nuke.layers,
nuke.execute (and nuke.CancelledError), nuke.executeInMainThread, nuke.ProgressTask,
nuke.scriptOpen, nuke.tprint, the knob classes Tab_Knob, Text_Knob, String_Knob, File_Knob,
Multiline_Eval_String_Knob, Enumeration_Knob, Double_Knob, Int_Knob, Boolean_Knob, PyScript_Knob
and the flags INVISIBLE and STARTLINE; on nodes: knob, knobs, addKnob, removeKnob, name,
fullName, setName, input, setInput, begin, end, firstFrame, lastFrame; on knobs: value, getText,
getEvaluatedValue, setValue, setValues, setTooltip, setFlag, setRange, execute (String_Knob and
EvalString_Knob, the base of File_Knob and Multiline_Eval_String_Knob, for text); and
nukescripts.panels.registerWidgetAsPanel.

Reference points that shaped this module: String and File knobs' `value()` evaluates TCL (`[`,
`$`) and turns `####` into `%04d`, so text is read with `getText()`; Root's colour knobs are
enumerations (no `getText()`) and its paths are read with `getEvaluatedValue()`; names are unique
(`setName` uncollides); a Write's EXR knobs exist
only once `file_type` is exr; `nuke.menu` raises without a GUI; `registerWidgetAsPanel` evaluates
its widget string in Nuke's main namespace and builds the class with no arguments; Nuke 17's
knobChanged also fires for changes made by scripts (the plugin never relies on either behaviour).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import nuke

# Names of the nodes inside the StyleLock group.
PLATE_INPUT = "plate"
STYLE_INPUT = "style"
PLATE_WRITE = "WritePlate"
STYLE_WRITE = "WriteStyle"
RESULT_READ = "Result"

#: Knob kinds -> Nuke knob classes (a `ParamField.kind` or the plugin's own fixed knobs).
_KNOB_CLASSES = {
    "tab": "Tab_Knob",
    "text": "Text_Knob",
    "string": "String_Knob",
    "path": "File_Knob",
    "multiline": "Multiline_Eval_String_Knob",
    "enum": "Enumeration_Knob",
    "float": "Double_Knob",
    "int": "Int_Knob",
    "bool": "Boolean_Knob",
    "button": "PyScript_Knob",
}


# -- session -----------------------------------------------------------------------------------------
def gui() -> bool:
    """True in an interactive Nuke, False under `nuke -t` / `nuke -x` (no main-thread loop to call back)."""
    return bool(nuke.GUI)


def add_menu_command(menu: str, submenu: str, label: str, command: str) -> None:
    """`menu` > `submenu` > `label` runs the Python `command`."""
    nuke.menu(menu).addMenu(submenu).addCommand(label, command)


def register_panel(module: str, cls: str, title: str, panel_id: str) -> None:
    """The Qt widget class `module.cls` as a dockable Nuke panel (Windows > Custom).

    The widget string is evaluated in Nuke's main namespace, so it imports its own module."""
    import nukescripts

    expression = f"__import__({module!r}, fromlist=[{cls!r}]).{cls}"
    nukescripts.panels.registerWidgetAsPanel(expression, title, panel_id)


def in_main_thread(call: Callable[..., Any], *args: Any) -> None:
    """Run `call(*args)` on Nuke's main thread, returning at once (the only way a worker thread may
    touch nodes)."""
    nuke.executeInMainThread(call, args)


def progress_task(title: str) -> Any:
    """A `nuke.ProgressTask` (setProgress 0-100, setMessage, isCancelled); usable from a worker thread."""
    return nuke.ProgressTask(title)


def log(text: str) -> None:
    """One line in the script editor / terminal."""
    nuke.tprint(text)


def show_status(node: Any, line: str, *, error: bool = False) -> None:
    """The node's status line; an error also goes to the script editor, one line, never a dialog."""
    node.knob("status").setValue(line)
    if error:
        nuke.tprint(f"StyleLock {node.fullName()}: {line}")


def open_script(path: str) -> None:
    nuke.scriptOpen(path)


def current_frame() -> int:
    return int(nuke.frame())


# -- the script's colour settings --------------------------------------------------------------------
def _root_choice(name: str) -> str:
    """A Root enumeration knob's chosen item ("" when this Nuke has no such knob)."""
    knob = nuke.root().knob(name)
    return str(knob.value()) if knob is not None else ""


def _root_path(name: str) -> str:
    """A Root file knob's path with its TCL evaluated (`[getenv OCIO]`)."""
    knob = nuke.root().knob(name)
    return str(knob.getEvaluatedValue()) if knob is not None else ""


def script_path() -> str:
    """The saved script's path, "" for an unsaved one."""
    name = _root_path("name")
    return "" if name in ("", "Root") else name


def working_space() -> str:
    """The script's working (scene-linear) colour space: what a Write with raw data writes."""
    return _root_choice("workingSpaceLUT")


def script_ocio_config() -> str:
    """The script's OCIO config file when it names a custom one, else "" (the server's applies)."""
    if _root_choice("colorManagement") != "OCIO" or _root_choice("OCIO_config") != "custom":
        return ""
    return _root_path("customOCIOConfigPath")


# -- nodes ---------------------------------------------------------------------------------------------
def this_node() -> Any:
    return nuke.thisNode()


def this_knob_name() -> str:
    return nuke.thisKnob().name()


def node_by_name(name: str) -> Any:
    node = nuke.toNode(name)
    if node is None:
        raise LookupError(f"no node named {name!r} in this script")
    return node


def node_name(node: Any) -> str:
    """The node's full name (with its group path), stable for the script's life."""
    return node.fullName()


def input_node(node: Any, index: int) -> Any:
    return node.input(index)


def upstream_range(node: Any) -> tuple[int, int]:
    """The frame range of what feeds input 0 (the plate)."""
    source = node.input(0)
    if source is None:
        raise LookupError("nothing is connected to the plate input")
    return int(source.firstFrame()), int(source.lastFrame())


def upstream_layers(node: Any) -> list[str]:
    """The layers reaching input 0 (`rgba`, `depth`, `forward`, ...)."""
    source = node.input(0)
    return list(nuke.layers(source)) if source is not None else []


def create_group(name: str, knob_changed: str) -> Any:
    """The StyleLock node: a Group with inputs plate (0) and style (1), a Write for each, a Read of
    the results feeding its output. `knob_changed` is the Python its knobChanged runs."""
    group = nuke.createNode("Group", inpanel=False)
    group.setName(name)  # uncollides: a second node becomes StyleLock2
    group.knob("knobChanged").setValue(knob_changed)
    group.begin()
    try:
        plate = nuke.nodes.Input(name=PLATE_INPUT)
        style = nuke.nodes.Input(name=STYLE_INPUT)
        for write_name, source in ((PLATE_WRITE, plate), (STYLE_WRITE, style)):
            write = nuke.nodes.Write(name=write_name)
            write.setInput(0, source)
            write.knob("file_type").setValue("exr")  # first: the EXR knobs below appear with it
            write.knob("channels").setValue("all")
            # only the header fields EXR needs: the same pixels give the same bytes, whatever upstream
            # node hash or timestamps Nuke would stamp, so the server's content-keyed resume holds
            write.knob("metadata").setValue("no metadata")
            write.knob("datatype").setValue("32 bit float")
            write.knob("raw").setValue(True)  # no colour conversion: the working space as it is
            write.knob("create_directories").setValue(True)
        read = nuke.nodes.Read(name=RESULT_READ)
        read.knob("raw").setValue(True)
        read.knob("on_error").setValue("black")  # frames still rendering show black, not an error
        output = nuke.nodes.Output()
        output.setInput(0, read)
    finally:
        group.end()
    return group


def _inner(group: Any, name: str) -> Any:
    group.begin()
    try:
        node = nuke.toNode(name)
    finally:
        group.end()
    if node is None:
        raise LookupError(f"the StyleLock node {group.name()} lost its inner node {name}")
    return node


def render(group: Any, write_name: str, pattern: str, runs: Sequence[tuple[int, int, int]]) -> None:
    """Render the group's Write `write_name` into `pattern` for each (first, last, step) run.

    Raises `JobCancelledError` when the user cancels Nuke's render, `OutputError` when it fails."""
    from stylelock.core.errors import JobCancelledError, OutputError

    write = _inner(group, write_name)
    write.knob("file").setValue(pattern)
    for first, last, step in runs:
        try:
            nuke.execute(write, first, last, step)
        except nuke.CancelledError:
            raise JobCancelledError("the render of the input range was cancelled") from None
        except RuntimeError as exc:
            if "cancel" in str(exc).lower():
                raise JobCancelledError("the render of the input range was cancelled") from None
            raise OutputError(f"Nuke could not render {write_name} {first}-{last}: {exc}") from None


def point_read(group: Any, pattern: str, first: int, last: int) -> None:
    """The group's output shows `pattern` over first-last, re-read from disk."""
    read = _inner(group, RESULT_READ)
    read.knob("file").setValue(pattern)
    for name, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
        read.knob(name).setValue(value)
    read.knob("reload").execute()


def create_read(pattern: str, first: int, last: int) -> Any:
    """A new Read node of a finished job's frames (from the jobs panel)."""
    read = nuke.nodes.Read()
    read.knob("file").setValue(pattern)
    for name, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
        read.knob(name).setValue(value)
    read.knob("raw").setValue(True)
    return read


# -- knobs ---------------------------------------------------------------------------------------------
def add_knob(
    node: Any,
    kind: str,
    name: str,
    label: str,
    value: Any = None,
    *,
    tooltip: str = "",
    choices: Sequence[str] = (),
    value_range: tuple[float, float] | None = None,
    command: str = "",
    hidden: bool = False,
    new_line: bool = True,
) -> None:
    """Add a user knob of `kind` (see `_KNOB_CLASSES`) to `node`."""
    cls = getattr(nuke, _KNOB_CLASSES[kind])
    if kind == "enum":
        knob = cls(name, label, list(choices))
    elif kind == "button":
        knob = cls(name, label, command)
    elif kind == "text":
        knob = cls(name, label, str(value or ""))
    else:
        knob = cls(name, label)
    if value_range is not None:
        knob.setRange(value_range[0], value_range[1])
    if value is not None and kind not in ("tab", "text", "button"):
        knob.setValue(value)
    if tooltip:
        knob.setTooltip(tooltip)
    if hidden:
        knob.setFlag(nuke.INVISIBLE)
    if new_line and kind not in ("tab",):
        knob.setFlag(nuke.STARTLINE)
    node.addKnob(knob)


def knob_names(node: Any) -> list[str]:
    return list(node.knobs())


def knob_value(node: Any, name: str, default: Any = None) -> Any:
    """A number, boolean or enumeration knob's value."""
    knob = node.knob(name)
    return default if knob is None else knob.value()


def knob_values(node: Any, prefix: str) -> dict[str, Any]:
    """Every knob whose name starts with `prefix`: text knobs as raw text, others as values."""
    return {
        name: knob.getText() if isinstance(knob, (nuke.String_Knob, nuke.EvalString_Knob)) else knob.value()
        for name, knob in node.knobs().items()
        if name.startswith(prefix)
    }


def knob_text(node: Any, name: str) -> str:
    """A text knob's raw text (no TCL evaluation, `####` kept)."""
    knob = node.knob(name)
    return "" if knob is None else str(knob.getText())


def set_knob(node: Any, name: str, value: Any) -> None:
    node.knob(name).setValue(value)


def set_choices(node: Any, name: str, choices: Sequence[str]) -> None:
    node.knob(name).setValues(list(choices))


def remove_knob(node: Any, name: str) -> None:
    knob = node.knob(name)
    if knob is not None:
        node.removeKnob(knob)
