"""A fake of exactly the `nuke` calls the StyleLock plugin makes (`stylelock_nuke.host`), nothing more.

Nuke cannot be installed here, so the plugin's tests run against this module. Each call mirrors
Foundry's Nuke Python API reference (learn.foundry.com/nuke/developers/<15.1, 16.0, 17.1>/
pythondevguide/_autosummary/nuke.*.html): the same names, arguments and knob names. Anything the
plugin did not declare fails loudly: an unknown module attribute, knob name or node class raises.

Nuke's threading rule is enforced: nodes and knobs may be touched only on the main thread (a worker
must go through `executeInMainThread`, which queues the call until the test pumps it as Nuke's event
loop would); `ProgressTask`, `executeInMainThread` and `tprint` may be used from any thread.

Rendering (`execute` on a Write) copies the upstream Read's frames byte for byte into the Write's
path through a temporary file, as a Write of unchanged pixels with "raw data" would write them.
Test-only controls live in `fake_session`, not here.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from typing import Any

import fake_session as _session

GUI = os.environ.get("STYLELOCK_FAKE_NUKE_GUI", "1") == "1"

INVISIBLE = 0x400
STARTLINE = 0x1000
_METADATA = [
    "default metadata",
    "no metadata",
    "default metadata and exr/*",
    "all metadata except input/*",
    "all metadata",
]


class CancelledError(Exception):
    """Raised by Nuke when the user cancels (a render, a prompt)."""


def _main_thread_only(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        raise AssertionError(f"{what} was called off Nuke's main thread (use nuke.executeInMainThread)")


# -- knobs --------------------------------------------------------------------------------------------
class Knob:
    def __init__(self, name: str, label: str = "", value: Any = "") -> None:
        self._name = name
        self._label = label
        self._value = value
        self.flags = 0
        self.tooltip = ""
        self.node: Node | None = None

    def name(self) -> str:
        return self._name

    def value(self) -> Any:
        _main_thread_only(f"knob {self._name}.value()")
        return self._value

    def setValue(self, value: Any) -> bool:
        _main_thread_only(f"knob {self._name}.setValue()")
        self._value = self._convert(value)
        _session.knob_changed(self)  # Nuke 17: scripts' changes call knobChanged too
        return True

    def _convert(self, value: Any) -> Any:
        return "" if value is None else str(value)

    def setTooltip(self, text: str) -> None:
        self.tooltip = text

    def setFlag(self, flag: int) -> None:
        self.flags |= flag


class Tab_Knob(Knob):
    pass


class String_Knob(Knob):
    def value(self) -> Any:
        """Nuke evaluates TCL in the text: the plugin must read raw text with getText()."""
        text = super().value()
        if any(c in text for c in "[]$"):
            raise AssertionError(f"String_Knob {self._name}.value() would evaluate TCL in {text!r}")
        return text

    def getText(self) -> str:
        _main_thread_only(f"knob {self._name}.getText()")
        return str(self._value)


class EvalString_Knob(Knob):
    """Nuke's base of File_Knob and Multiline_Eval_String_Knob: not a String_Knob."""

    def value(self) -> Any:
        text = super().value()
        if any(c in text for c in "[]$"):
            raise AssertionError(f"{type(self).__name__} {self._name}.value() would evaluate TCL in {text!r}")
        return text

    def getText(self) -> str:
        _main_thread_only(f"knob {self._name}.getText()")
        return str(self._value)

    def getEvaluatedValue(self) -> str:
        """TCL evaluated: the fake evaluates only `[getenv NAME]`, what studios put in paths."""
        import os
        import re

        _main_thread_only(f"knob {self._name}.getEvaluatedValue()")
        return re.sub(r"\[getenv (\w+)\]", lambda m: os.environ.get(m.group(1), ""), str(self._value))


class File_Knob(EvalString_Knob):
    def value(self) -> Any:
        return str(super().value()).replace("####", "%04d")  # as Nuke normalises it


class Multiline_Eval_String_Knob(EvalString_Knob):
    pass


class Text_Knob(Knob):
    def __init__(self, name: str, label: str = "", text: str = "") -> None:
        super().__init__(name, label, text)


class Enumeration_Knob(Knob):
    def __init__(self, name: str, label: str, values: list[str]) -> None:
        super().__init__(name, label, values[0] if values else "")
        self._values = list(values)

    def values(self) -> list[str]:
        return list(self._values)

    def setValues(self, values: list[str]) -> None:
        _main_thread_only("Enumeration_Knob.setValues()")
        self._values = [str(v) for v in values]
        if self._value not in self._values:
            self._value = self._values[0] if self._values else ""

    def _convert(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return self._values[value]
        if str(value) not in self._values:
            raise ValueError(f"{value!r} is not an item of enumeration knob {self._name} {self._values}")
        return str(value)


class Double_Knob(Knob):
    def __init__(self, name: str, label: str = "") -> None:
        super().__init__(name, label, 0.0)
        self.range = (0.0, 1.0)

    def setRange(self, low: float, high: float) -> None:
        self.range = (float(low), float(high))

    def _convert(self, value: Any) -> Any:
        return float(value)


class Int_Knob(Double_Knob):
    def _convert(self, value: Any) -> Any:
        return int(value)


class Boolean_Knob(Knob):
    def __init__(self, name: str, label: str = "", value: bool = False) -> None:
        super().__init__(name, label, bool(value))

    def _convert(self, value: Any) -> Any:
        return bool(value)


class PyScript_Knob(Knob):
    def __init__(self, name: str, label: str = "", command: str = "") -> None:
        super().__init__(name, label, command)
        self.presses = 0

    def execute(self) -> None:
        _main_thread_only(f"button {self._name}.execute()")
        self.presses += 1
        if self._value:
            _session.run_python(self._value, self.node, self)


# -- nodes --------------------------------------------------------------------------------------------
#: Knobs each node class has before any user knob is added (only those the plugin touches).
_CLASS_KNOBS: dict[str, dict[str, Callable[[], Knob]]] = {
    "Root": {
        "name": lambda: File_Knob("name", ""),
        "colorManagement": lambda: Enumeration_Knob("colorManagement", "", ["Nuke", "OCIO"]),
        "OCIO_config": lambda: Enumeration_Knob("OCIO_config", "", ["aces_1.3", "nuke-default", "custom"]),
        "customOCIOConfigPath": lambda: File_Knob("customOCIOConfigPath", ""),
        "workingSpaceLUT": lambda: Enumeration_Knob(
            "workingSpaceLUT", "", ["ACEScg", "scene_linear", "linear"]
        ),
    },
    "Group": {"knobChanged": lambda: String_Knob("knobChanged", "")},
    "Input": {},
    "Output": {},
    "Read": {
        "file": lambda: File_Knob("file", ""),
        "first": lambda: Int_Knob("first", ""),
        "last": lambda: Int_Knob("last", ""),
        "origfirst": lambda: Int_Knob("origfirst", ""),
        "origlast": lambda: Int_Knob("origlast", ""),
        "on_error": lambda: Enumeration_Knob(
            "on_error", "", ["error", "black", "checkerboard", "nearest frame"]
        ),
        "raw": lambda: Boolean_Knob("raw", ""),
        "reload": lambda: PyScript_Knob("reload", ""),
    },
    "Write": {
        "file": lambda: File_Knob("file", ""),
        "file_type": lambda: String_Knob("file_type", ""),
        "channels": lambda: String_Knob("channels", "", "rgb"),
        "datatype": lambda: Enumeration_Knob("datatype", "", ["16 bit half", "32 bit float"]),
        "raw": lambda: Boolean_Knob("raw", ""),
        "create_directories": lambda: Boolean_Knob("create_directories", ""),
        "metadata": lambda: Enumeration_Knob("metadata", "", _METADATA),
    },
}


class Node:
    def __init__(self, cls: str, parent: Node | None) -> None:
        if cls not in _CLASS_KNOBS:
            raise AssertionError(f"the fake nuke has no node class {cls}")
        self._class = cls
        self._parent = parent
        self._knobs: dict[str, Knob] = {"name": String_Knob("name", "", "")}
        for make in _CLASS_KNOBS[cls].values():
            self._attach(make())
        self._inputs: dict[int, Node] = {}
        self._children: list[Node] = []
        if parent is not None:
            parent._children.append(self)

    def _attach(self, knob: Knob) -> None:
        knob.node = self
        self._knobs[knob.name()] = knob

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> bool:
        """Names are unique within a group: with `uncollide` a taken name gets the next free number."""
        _main_thread_only("Node.setName()")
        taken = {
            c._knobs["name"]._value for c in (self._parent._children if self._parent else []) if c is not self
        }
        if name in taken:
            if not uncollide:
                raise ValueError(f"a node named {name} already exists")
            stem = name.rstrip("0123456789") or name
            number = 1
            while f"{stem}{number}" in taken:
                number += 1
            name = f"{stem}{number}"
        self._knobs["name"]._value = name
        return True

    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        _main_thread_only("Node.name()")
        return str(self._knobs["name"]._value)

    def fullName(self) -> str:
        _main_thread_only("Node.fullName()")
        parts = []
        node: Node | None = self
        while node is not None and node._class != "Root":
            parts.append(str(node._knobs["name"]._value))
            node = node._parent
        return ".".join(reversed(parts))

    def knob(self, name: str) -> Knob | None:
        _main_thread_only(f"Node.knob({name!r})")
        return self._knobs.get(name)

    def knobs(self) -> dict[str, Knob]:
        _main_thread_only("Node.knobs()")
        return dict(self._knobs)

    def addKnob(self, knob: Knob) -> None:
        _main_thread_only("Node.addKnob()")
        if knob.name() in self._knobs:
            raise AssertionError(f"node {self.name()} already has a knob {knob.name()}")
        self._attach(knob)

    def removeKnob(self, knob: Knob) -> None:
        _main_thread_only("Node.removeKnob()")
        del self._knobs[knob.name()]

    def input(self, index: int) -> Node | None:
        _main_thread_only("Node.input()")
        return self._inputs.get(index)

    def setInput(self, index: int, node: Node | None) -> bool:
        _main_thread_only("Node.setInput()")
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        return True

    def begin(self) -> Node:
        _main_thread_only("Group.begin()")
        if self._class != "Group":
            raise AssertionError("begin() on a node that is not a Group")
        _session.STATE.context.append(self)
        return self

    def end(self) -> None:
        _main_thread_only("Group.end()")
        if _session.STATE.context[-1] is not self:
            raise AssertionError("end() without a matching begin()")
        _session.STATE.context.pop()

    def firstFrame(self) -> int:
        _main_thread_only("Node.firstFrame()")
        return _session.frame_range(self)[0]

    def lastFrame(self) -> int:
        _main_thread_only("Node.lastFrame()")
        return _session.frame_range(self)[1]


class _Nodes:
    """`nuke.nodes.Class(**knobs)`: a node in the current context, not selected, no panel."""

    def __getattr__(self, cls: str) -> Callable[..., Node]:
        if cls not in ("Input", "Output", "Read", "Write"):
            raise AttributeError(f"the fake nuke.nodes has no {cls}")

        def make(**knobs: Any) -> Node:
            _main_thread_only(f"nuke.nodes.{cls}()")
            node = Node(cls, _session.STATE.context[-1])
            node._knobs["name"]._value = knobs.pop("name", None) or _session.unique_name(cls)
            for name, value in knobs.items():
                node.knob(name).setValue(value)
            return node

        return make


nodes = _Nodes()


# -- module functions ---------------------------------------------------------------------------------
def createNode(node: str, args: str | None = None, inpanel: bool | None = None) -> Node:
    _main_thread_only("nuke.createNode()")
    if node != "Group" or args:
        raise AssertionError(f"the fake nuke.createNode makes only an empty Group, not {node!r} {args!r}")
    group = Node("Group", _session.STATE.context[-1])
    group._knobs["name"]._value = _session.unique_name("Group")
    return group


def toNode(name: str) -> Node | None:
    _main_thread_only("nuke.toNode()")
    return _session.find(name)


def thisNode() -> Node:
    return _session.STATE.this[-1][0]


def thisKnob() -> Knob:
    return _session.STATE.this[-1][1]


def root() -> Node:
    _main_thread_only("nuke.root()")
    return _session.STATE.root


def frame() -> int:
    _main_thread_only("nuke.frame()")
    return _session.STATE.frame


def layers(node: Node | None = None) -> list[str]:
    _main_thread_only("nuke.layers()")
    if node is None:
        raise AssertionError("the plugin asks for the layers of a node")
    return _session.layers_of(node)


def execute(nameOrNode: Node | str, start: int, end: int, incr: int = 1, views: Any = None) -> None:
    _main_thread_only("nuke.execute()")
    write = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if write is None or write.Class() != "Write":
        raise AssertionError("nuke.execute renders Write nodes here")
    source = _session.upstream_read(write)
    pattern = str(write.knob("file").getText())
    for number in range(start, end + 1, incr):
        target = _session.frame_path(pattern, number)
        if write.knob("create_directories").value():
            os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = target + ".tmp"
        shutil.copyfile(_session.frame_path(str(source.knob("file").getText()), number), partial)
        os.replace(partial, target)
        _session.STATE.renders.append((write.fullName(), number))


def executeInMainThread(call: Callable[..., Any], args: Any = (), kwargs: Any = None) -> None:
    if not isinstance(args, tuple):
        args = (args,)
    _session.STATE.main_queue.put((call, args, kwargs or {}))


class ProgressTask:
    def __init__(self, name: str) -> None:
        self.name = name
        self.progress: list[int] = []
        self.messages: list[str] = []
        _session.STATE.tasks.append(self)

    def setProgress(self, value: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise AssertionError(f"ProgressTask.setProgress takes an int 0-100, got {value!r}")
        self.progress.append(value)

    def setMessage(self, text: str) -> None:
        self.messages.append(str(text))

    def isCancelled(self) -> bool:
        return _session.STATE.user_cancels


def tprint(*values: Any) -> None:
    line = " ".join(str(v) for v in values)
    _session.STATE.log.append(line)
    print(line)


def scriptOpen(path: str) -> None:
    _main_thread_only("nuke.scriptOpen()")
    _session.load_script(path)


class _Menu:
    def __init__(self, path: str) -> None:
        self.path = path

    def addMenu(self, name: str, **kwargs: Any) -> _Menu:
        return _Menu(f"{self.path}/{name}")

    def addCommand(
        self, name: str, command: Any = None, shortcut: str = "", icon: str = "", **kwargs: Any
    ) -> None:
        _session.STATE.menu[f"{self.path}/{name}"] = command


def menu(name: str) -> _Menu:
    return _Menu(name)


def __getattr__(name: str) -> Any:
    raise AttributeError(f"the fake nuke has no {name!r}: stylelock_nuke.host declares every call it makes")
