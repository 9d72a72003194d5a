"""One Qt import for the jobs panel: Nuke 15 (PySide2, Qt 5), Nuke 16+ (PySide6, Qt 6), `stylelock monitor`.

The panel uses only what both bindings spell the same (QtCore.Signal, QtWidgets widgets, QTimer),
plus the few differences named here. `STYLELOCK_QT=PySide2` (or `PySide6`) forces a binding, which
is how the tests run the panel under both.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

BINDINGS = ("PySide6", "PySide2")


def _load() -> tuple[str, ModuleType, ModuleType, ModuleType]:
    forced = os.environ.get("STYLELOCK_QT", "")
    order = [forced] if forced else list(BINDINGS)
    errors = []
    for name in order:
        try:
            modules = [importlib.import_module(f"{name}.{part}") for part in ("QtCore", "QtGui", "QtWidgets")]
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        return name, modules[0], modules[1], modules[2]
    raise ImportError("no Qt binding for the StyleLock panel (" + "; ".join(errors) + ")")


BINDING, QtCore, QtGui, QtWidgets = _load()
Signal = QtCore.Signal


def exec_app(app: QtWidgets.QApplication) -> int:
    """Run the event loop (`exec` in Qt 6, `exec_` in Qt 5)."""
    run = getattr(app, "exec", None) or app.exec_
    return int(run())
