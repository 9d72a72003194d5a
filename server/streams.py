"""Open streams hold a server thread each: how many, and how many a caller, may be open at once.

`WatchJob` and `UploadFrames` keep one of the server's RPC threads for as long as they are open. A
client that opens many and leaves them idle would otherwise take every thread, and then even the
health check and the calls that cancel jobs would wait. So streams take a slot: at most `total`
(the server's threads minus a reserve that unary calls always find free) and `per_client` a caller;
past either, a new stream is refused at once with RESOURCE_EXHAUSTED naming the limit.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

from stylelock.core.errors import ResourceLimitError


class StreamSlots:
    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self, client: str) -> Iterator[None]:
        with self._lock:
            if sum(self._open.values()) >= self.total:
                raise ResourceLimitError(
                    f"the server has {self.total} streams open, its most; try again when some end"
                )
            if self._open[client] >= self.per_client:
                raise ResourceLimitError(
                    f"{client} has {self._open[client]} streams open, the most one caller may have; "
                    "close some (finished watches, stalled uploads)"
                )
            self._open[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._open[client] -= 1
                if not self._open[client]:
                    del self._open[client]

    def open_streams(self) -> int:
        with self._lock:
            return sum(self._open.values())
