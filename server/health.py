"""Liveness and readiness on the standard gRPC health service, and systemd's readiness protocol.

- `""` (liveness) is SERVING while the process is up and answering; it stays SERVING while the
  server drains on SIGTERM (the process is healthy, just leaving) and stops answering when the
  gRPC server has stopped.
- `stylelock.v1.StyleLock` (readiness) is SERVING only while the server takes jobs: every
  registered model, ControlNet and adapter can be loaded as it is on disk (`models.model_problems`,
  checked at start and every `RECHECK_S` seconds) and the server is not draining or stopping.
  NOT_SERVING carries no text in gRPC's answer; `reason` holds it, and it is logged, shown by
  `/ready` on the metrics listener and sent to systemd as the unit's status.

Draining begins where both the SIGTERM drain and `stop()` begin: `enter_graceful_shutdown()`,
which here turns readiness off for good and leaves liveness as it is.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from grpc_health.v1 import health, health_pb2

from stylelock.server.service import SERVICE_NAME

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
#: Seconds between readiness checks of the registered models (a model folder mounted late, or gone).
RECHECK_S = 15.0

Watcher = Callable[[bool, str, bool], None]
"""Called with (ready, reason, draining) whenever one of them changes."""


class ServerHealth(health.HealthServicer):
    """The health service of one StyleLock server: liveness `""`, readiness `SERVICE_NAME`."""

    def __init__(self, check: Callable[[], list[str]] = list) -> None:
        """`check()` lists what keeps the server from taking jobs ([] when nothing does)."""
        super().__init__(experimental_non_blocking=True)
        self._check = check
        self._state_lock = threading.Lock()
        self._problems: list[str] = ["not checked yet"]
        self._draining = False
        self._watchers: list[Watcher] = []
        self.set("", SERVING)
        self.set(SERVICE_NAME, NOT_SERVING)

    @property
    def ready(self) -> bool:
        return not self._problems and not self._draining

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def reason(self) -> str:
        """Why the server does not take jobs ("" when it does)."""
        if self._draining:
            return "the server is shutting down"
        return "; ".join(self._problems)

    def recheck(self) -> bool:
        """Check the models again and update readiness; returns whether the server is ready."""
        try:
            problems = list(self._check())
        except Exception as exc:  # a check that fails is a reason, not a crash
            log.exception("readiness check failed")
            problems = [f"the readiness check failed: {type(exc).__name__}: {exc}"]
        with self._state_lock:
            changed = problems != self._problems
            self._problems = problems
        if changed:
            self._publish()
        return self.ready

    def enter_graceful_shutdown(self) -> None:
        """Draining: readiness NOT_SERVING for good; liveness stays SERVING until the server stops."""
        with self._state_lock:
            if self._draining:
                return
            self._draining = True
        self._publish()

    def add_watcher(self, watcher: Watcher) -> None:
        """Call `watcher` now and on every change of readiness."""
        with self._state_lock:
            self._watchers.append(watcher)
        watcher(self.ready, self.reason, self._draining)

    def _publish(self) -> None:
        ready, reason, draining = self.ready, self.reason, self._draining
        self.set(SERVICE_NAME, SERVING if ready else NOT_SERVING)
        if ready:
            log.info("ready: taking jobs")
        elif draining:
            log.info("not ready: %s", reason)
        else:
            log.warning("not ready: %s", reason)
        with self._state_lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            try:
                watcher(ready, reason, draining)
            except Exception:
                log.exception("readiness watcher %r failed", watcher)


def systemd_notify(message: str) -> bool:
    """Send `message` (`READY=1`, `STATUS=...`) to systemd when it started this process as a
    `Type=notify` service ($NOTIFY_SOCKET); False when it did not or the message was not taken."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or not hasattr(socket, "AF_UNIX"):
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.debug("systemd notification %r not sent: %s", message, exc)
        return False
    return True


class SystemdNotifier:
    """A readiness watcher telling systemd: READY=1 the first time the server is ready, the reason it
    is not as the unit's status, and STOPPING=1 when it drains."""

    def __init__(self) -> None:
        self.told_ready = False

    def __call__(self, ready: bool, reason: str, draining: bool) -> None:
        if draining:
            systemd_notify(f"STOPPING=1\nSTATUS={reason}")
        elif ready:
            first = "" if self.told_ready else "READY=1\n"
            self.told_ready = True
            systemd_notify(f"{first}STATUS=ready: taking jobs")
        else:
            systemd_notify(f"STATUS=not ready: {reason}")
