"""Engine instances kept warm between jobs.

Loading a diffusion model takes seconds to minutes, so a server keeps the engines it built (and
the models they hold) in a small LRU. One cache per process; thread-safe.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from stylelock.server.engines.base import Engine

log = logging.getLogger(__name__)


class EngineCache:
    """Engines by (name, device), least recently used evicted first (and closed)."""

    def __init__(
        self,
        max_engines: int = 2,
        *,
        device: str = "auto",
        engine_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.max_engines = max(1, max_engines)
        self.device = device
        self.engine_options = {name: dict(opts) for name, opts in (engine_options or {}).items()}
        self._engines: OrderedDict[tuple[str, str], Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, cls: type[Engine]) -> Engine:
        key = (cls.name, self.device)
        with self._lock:
            engine = self._engines.pop(key, None)
            if engine is None:
                log.info("starting engine %s on %s", cls.name, self.device)
                engine = cls(device=self.device, **self.engine_options.get(cls.name, {}))
            self._engines[key] = engine
            while len(self._engines) > self.max_engines:
                (old_name, _), old = self._engines.popitem(last=False)
                log.info("closing idle engine %s", old_name)
                old.close()
            return engine

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()
