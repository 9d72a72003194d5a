"""The engine checks a job passes before any frame is read: shared by `prepare_job` and the inline
pre-check of the job manager (which runs before an upload starts, so nothing here loads OIIO/OCIO).
"""

from __future__ import annotations

from typing import Any

from stylelock.core.errors import SpecError
from stylelock.core.jobspec import JobSpec
from stylelock.core.params import validate_params
from stylelock.server.engines import engine_class
from stylelock.server.engines.base import Engine

__all__ = ["check_engine"]


def check_engine(spec: JobSpec) -> tuple[type[Engine], dict[str, Any]]:
    """The spec's engine class and its validated parameters.

    Raises `UnknownEngineError` for an unregistered engine, `SpecError` for a bad parameter or for
    an engine that needs a style reference when the spec has none.
    """
    engine = engine_class(spec.engine)
    params = validate_params(spec.engine, engine.params, spec.params)
    if engine.needs_style and not spec.styles:
        raise SpecError(f"engine {spec.engine!r} needs a style reference (--style)")
    return engine, params
