"""The server's operations endpoint over plain HTTP (`metrics_listen`), for Prometheus and probes:

- `GET /metrics`: the metrics in Prometheus' text format (`stylelock.server.metrics`);
- `GET /live`: 200 while the process answers;
- `GET /ready`: 200 when the server takes jobs, else 503 with the reason as the body.

Probes that cannot send the gRPC access token (a Kubernetes httpGet probe, curl in a unit file) use
these: they carry no job data and need none. It binds loopback unless the server may listen
beyond it (`allow_remote`); it runs on a daemon thread and stops with the gRPC server.
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from collections.abc import Callable

from stylelock.core.errors import SpecError
from stylelock.server.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)


def split_host_port(address: str) -> tuple[str, int]:
    """("127.0.0.1", 9151) from "127.0.0.1:9151", ("::1", 0) from "[::1]:0"."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise SpecError(f"metrics_listen {address!r} must be HOST:PORT (such as 127.0.0.1:9151)")
    return host.strip("[]") or "0.0.0.0", int(port)


class OpsHttpServer:
    """Bound at construction (so a port in use fails the server's start), served from `start()`."""

    def __init__(self, address: str, metrics: Callable[[], str], readiness: Callable[[], tuple[bool, str]]):
        host, port = split_host_port(address)
        handler = _handler(metrics, readiness)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_Server", (http.server.ThreadingHTTPServer,), {"address_family": family})
        try:
            self._http = server_class((host, port), handler)
        except OSError as exc:
            raise SpecError(f"cannot serve metrics on {address}: {exc.strerror or exc}") from None
        self._http.daemon_threads = True
        bound_host, bound_port = self._http.server_address[:2]
        self.address = (
            f"[{bound_host}]:{bound_port}" if family == socket.AF_INET6 else f"{bound_host}:{bound_port}"
        )
        """HOST:PORT as bound (port 0 becomes the port chosen)."""
        self._thread: threading.Thread | None = None
        self._closing = threading.Lock()
        self._closed = False

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="stylelock-metrics", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port; a second call does nothing."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            if self._thread is not None:
                self._http.shutdown()
                self._thread.join(5.0)
            self._http.server_close()


def _handler(
    metrics: Callable[[], str], readiness: Callable[[], tuple[bool, str]]
) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "stylelock"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics(), CONTENT_TYPE)
            elif path == "/live":
                self._send(200, "live\n")
            elif path == "/ready":
                ready, reason = readiness()
                if ready:
                    self._send(200, "ready\n")
                else:
                    self._send(503, f"not ready: {reason}\n")
            else:
                self._send(404, "not found: /metrics, /live or /ready\n")

        def _send(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("metrics endpoint: " + format, *args)

    return Handler
