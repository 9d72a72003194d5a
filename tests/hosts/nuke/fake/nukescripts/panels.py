"""Fake `nukescripts.panels.registerWidgetAsPanel(widget, name, id, create=False)`."""

from __future__ import annotations

REGISTERED: dict[str, tuple[str, str]] = {}


def registerWidgetAsPanel(widget: str, name: str, id: str, create: bool = False) -> None:
    """Nuke evaluates `widget` as Python in its main namespace when the panel is shown, and calls the
    result with no arguments: check the expression resolves to a class from a bare namespace."""
    cls = eval(widget, {"__builtins__": __builtins__})
    if not isinstance(cls, type):
        raise AssertionError(f"{widget!r} is not a widget class")
    REGISTERED[id] = (widget, name)


def __getattr__(name: str):
    raise AttributeError(f"the fake nukescripts.panels has no {name!r}")
