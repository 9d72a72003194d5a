"""Fake `nukescripts`: only `nukescripts.panels.registerWidgetAsPanel`, which the plugin uses."""

from nukescripts import panels  # noqa: F401 - Nuke's nukescripts imports its panels module too


def __getattr__(name: str):
    raise AttributeError(f"the fake nukescripts has no {name!r}")
