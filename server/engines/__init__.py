"""Engine discovery: a manifest of names to classes, read without importing torch.

Built-in engines are listed in `BUILTIN_ENGINES` as import paths; third-party engines register
through the `stylelock.engines` entry-point group. An engine module imports only numpy and the
base at import time (heavy libraries load inside `restyle`), so listing engines and their
parameter schemas stays cheap. An engine that fails to import is logged and skipped, never fatal.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from importlib.metadata import entry_points

from stylelock.core.errors import UnknownEngineError
from stylelock.server.engines.base import Engine

log = logging.getLogger(__name__)

#: name -> "module:Class". Order is the order `stylelock info` lists them in.
BUILTIN_ENGINES: dict[str, str] = {
    "keyframe": "stylelock.server.engines.keyframe:KeyframeEngine",
    "diffusion-image": "stylelock.server.engines.diffusion:DiffusionImageEngine",
    "diffusion-video": "stylelock.server.engines.diffusion:DiffusionVideoEngine",
    "passthrough": "stylelock.server.engines.passthrough:PassthroughEngine",
}

ENTRY_POINT_GROUP = "stylelock.engines"


def _engine_paths() -> dict[str, str]:
    paths = dict(BUILTIN_ENGINES)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        paths.setdefault(point.name, point.value)
    return paths


def _load(name: str, path: str) -> type[Engine] | None:
    module_name, _, class_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        log.warning("engine %s (%s) is unavailable: %s", name, path, exc)
        return None
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        log.warning("engine %s (%s) is not an Engine subclass; skipped", name, path)
        return None
    return cls


def available_engines() -> dict[str, type[Engine]]:
    """Every engine that imports, by name."""
    found = {}
    for name, path in _engine_paths().items():
        cls = _load(name, path)
        if cls is not None:
            found[name] = cls
    return found


def engine_class(name: str) -> type[Engine]:
    """The class registered as `name`, or `UnknownEngineError` naming the close matches."""
    paths = _engine_paths()
    if name in paths:
        cls = _load(name, paths[name])
        if cls is not None:
            return cls
        raise UnknownEngineError(f"engine {name!r} is installed but failed to load (see the log)")
    close = difflib.get_close_matches(name, list(paths), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    available = ", ".join(n for n in paths if _load(n, paths[n]) is not None)
    raise UnknownEngineError(f"unknown engine {name!r}{hint} (available: {available})")
