"""The server factory: the StyleLock service with health checking and reflection, on one address.

`create_server()` binds but does not start; tests use port 0 and read the bound address back:

    server, address = create_server("127.0.0.1:0", allow_roots=[tmp])
    server.start()
    ...
    server.stop(grace=1).wait()

Stopping first marks the server not ready (health: `stylelock.v1.StyleLock` NOT_SERVING; liveness,
`""`, answers SERVING until the server is gone) and ends every job with UNAVAILABLE (watchers see
that as the job's error event), then gives in-flight calls `grace` seconds.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from stylelock.core.errors import SpecError
from stylelock.server.auth import Authenticator, AuthInterceptor, load_tokens
from stylelock.server.config import ServerConfig
from stylelock.server.health import RECHECK_S, ServerHealth
from stylelock.server.jobs import JobManager
from stylelock.server.logs import owner_listener
from stylelock.server.metrics import Metrics, MetricsInterceptor
from stylelock.server.models import describe_models, engine_options, model_library, model_problems
from stylelock.server.ops_http import OpsHttpServer
from stylelock.server.service import (
    SERVICE_NAME,
    ErrorMappingInterceptor,
    LogContextInterceptor,
    StyleLockServicer,
)
from stylelock.server.state import StateFolder
from stylelock.server.streams import StreamSlots
from stylelock.server.transport import AllowedRoots
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

#: Threads serving RPCs. Each open WatchJob or UploadFrames stream holds one while it lasts.
RPC_THREADS = 64
#: Threads streams may never take: health checks, info, submits and cancels always find one.
UNARY_RESERVE = 8


def is_loopback(address: str) -> bool:
    """True for unix sockets and loopback TCP addresses (127.0.0.0/8, ::1, localhost)."""
    if address.startswith("unix:") or address.startswith("unix-abstract:"):
        return True
    host = address.rsplit(":", 1)[0] if ":" in address else address
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StyleLockServer(grpc.Server):
    """A grpc.Server whose `stop` first drains the job manager (jobs end with UNAVAILABLE)."""

    def __init__(
        self,
        server: grpc.Server,
        manager: JobManager,
        health_servicer: ServerHealth,
        models: dict[str, dict[str, str]],
        metrics: Metrics | None = None,
        ops_http: OpsHttpServer | None = None,
    ):
        self._server = server
        self.manager = manager
        self.health = health_servicer
        """Liveness and readiness (`stylelock.server.health`)."""
        self.models = models
        """kind -> name -> path of the models the server offers (checked at start-up)."""
        self.metrics = metrics or Metrics()
        self._ops_http = ops_http
        self.metrics_address = ops_http.address if ops_http else ""
        """HOST:PORT of /metrics, /live and /ready ("" without `metrics_listen`)."""

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Iterable[Any]) -> None:
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: Any) -> None:
        self._server.add_registered_method_handlers(service_name, method_handlers)

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    def start(self) -> None:
        self._server.start()
        if self._ops_http is not None:
            self._ops_http.start()
        threading.Thread(target=self._operate, name="stylelock-ops", daemon=True).start()

    def _operate(self) -> None:
        """While the gRPC server runs: check readiness every RECHECK_S; then close the HTTP endpoint."""
        while self._server.wait_for_termination(RECHECK_S):
            self.health.recheck()
        self._close_ops_http()

    def stop(self, grace: float | None) -> Any:
        self.health.enter_graceful_shutdown()
        self.manager.shutdown(timeout=grace if grace is not None else 30.0)
        self._close_ops_http()
        return self._server.stop(grace)

    def _close_ops_http(self) -> None:
        """The HTTP endpoint goes with the server, before `stop` returns (it answers not-ready while
        jobs drain, then closes; closing only once gRPC has terminated left the port open a moment)."""
        if self._ops_http is not None:
            self._ops_http.close()

    def drain(self, seconds: float, grace: float | None) -> Any:
        """Stop as on SIGTERM: refuse new jobs at once, let running ones go on for up to `seconds`
        (they stop after the frame in hand), then `stop(grace)`."""
        self.health.enter_graceful_shutdown()
        self.manager.shutdown(timeout=grace if grace is not None else 30.0, drain=seconds)
        self._close_ops_http()
        return self._server.stop(grace)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._server.wait_for_termination(timeout)


def create_server(
    address: str = "127.0.0.1:0",
    *,
    allow_roots: Sequence[str | os.PathLike[str]] = (),
    config: ServerConfig | None = None,
    engines: Any = None,
) -> tuple[StyleLockServer, str]:
    """Build the server bound to `address` (host:port or unix:///path); returns (server, bound address).

    `allow_roots` adds to `config.allow_roots`. `engines` is an `EngineCache` to share (default: a
    new one of `config.max_engines`). A non-loopback address needs `config.allow_remote`.
    """
    config = config or ServerConfig()
    authenticator = Authenticator(
        load_tokens(config.tokens_file) if config.tokens_file else None,
        client_certificates=bool(config.tls_client_ca),
    )
    if not is_loopback(address):
        if not config.allow_remote:
            raise SpecError(
                f"refusing to listen on {address}: the server listens on loopback or a unix socket "
                "unless started with --allow-remote (and a way to know its callers)"
            )
        if not authenticator.required:
            raise SpecError(
                f"refusing to listen on {address} without authentication: give --tokens-file "
                "(access tokens) or --tls-client-ca (client certificates); see docs/security.md"
            )
    library = model_library(config)
    health_servicer = ServerHealth(lambda: model_problems(library))
    health_servicer.recheck()  # before the port is served: no caller ever sees a ready server that is not
    registered = [*library.models, *library.ip_adapters, *library.motion_adapters]
    roots = AllowedRoots([*config.allow_roots, *allow_roots], registered_models=registered)
    options = [
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    metrics = Metrics(ready=lambda: health_servicer.ready)
    ops_http = None
    if config.metrics_listen:
        if not config.allow_remote and not is_loopback(config.metrics_listen):
            raise SpecError(
                f"refusing to serve metrics on {config.metrics_listen}: the metrics endpoint listens on "
                "loopback unless the server is started with --allow-remote"
            )
        ready = lambda: (health_servicer.ready, health_servicer.reason)  # noqa: E731
        ops_http = OpsHttpServer(config.metrics_listen, metrics.render, ready)
    server = grpc.server(
        ThreadPoolExecutor(max_workers=RPC_THREADS, thread_name_prefix="stylelock-rpc"),
        interceptors=[
            MetricsInterceptor(metrics),
            AuthInterceptor(authenticator),
            LogContextInterceptor(authenticator.identify),
            ErrorMappingInterceptor(),
        ],
        options=options,
        maximum_concurrent_rpcs=RPC_THREADS,
    )
    port = -1
    try:
        port = _bind(server, address, config)
    except RuntimeError as exc:
        raise SpecError(f"cannot listen on {address}: {exc}") from None
    finally:
        if port <= 0 and ops_http is not None:
            ops_http.close()
    if port == 0:
        raise SpecError(f"cannot listen on {address} (address in use or not allowed)")
    if engines is None:
        from stylelock.server.engine_cache import EngineCache

        engines = EngineCache(max_engines=config.max_engines, engine_options=engine_options(library))
    manager = JobManager(config, roots, engines, StateFolder(config.state_dir, address))
    manager.listeners += [metrics.job_event, owner_listener]
    metrics.jobs = lambda: manager.jobs(include_ended=False)
    models = describe_models(library)
    slots = StreamSlots(RPC_THREADS - UNARY_RESERVE, config.max_streams_per_client)
    servicer = StyleLockServicer(manager, config, models, authenticator, slots)
    pb_grpc.add_StyleLockServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    bound = address if address.startswith("unix") else f"{address.rsplit(':', 1)[0]}:{port}"
    log.info("StyleLock server bound to %s (allowed roots: %s)", bound, ", ".join(roots.roots) or "none")
    if ops_http is not None:
        log.info("metrics, liveness and readiness on http://%s/", ops_http.address)
    return StyleLockServer(server, manager, health_servicer, models, metrics, ops_http), bound


def _read(path: str, what: str) -> bytes:
    try:
        return open(path, "rb").read()
    except OSError as exc:
        raise SpecError(f"{what} {path} cannot be read: {exc.strerror}") from None


def _bind(server: grpc.Server, address: str, config: ServerConfig) -> int:
    """Listen on `address`: TLS when the config has a certificate, a unix socket only for its owner
    (or its group) from the moment it exists."""
    if config.tls_cert or config.tls_key or config.tls_client_ca:
        if not (config.tls_cert and config.tls_key):
            raise SpecError("TLS needs both --tls-cert and --tls-key")
        client_ca = _read(config.tls_client_ca, "client CA") if config.tls_client_ca else None
        credentials = grpc.ssl_server_credentials(
            [(_read(config.tls_key, "TLS key"), _read(config.tls_cert, "TLS certificate"))],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )
        return server.add_secure_port(address, credentials)
    if not address.startswith("unix:"):
        return server.add_insecure_port(address)
    path = address.split("unix:", 1)[1].lstrip("/")
    path = "/" + path if address.startswith("unix:///") or address.startswith("unix:/") else path
    previous = os.umask(0o177)  # the socket file is born 0600
    try:
        port = server.add_insecure_port(address)
    finally:
        os.umask(previous)
    if config.socket_group and os.path.exists(path):
        import grp

        try:
            gid = grp.getgrnam(config.socket_group).gr_gid
        except KeyError:
            raise SpecError(f"socket group {config.socket_group!r} does not exist") from None
        os.chown(path, -1, gid)
        os.chmod(path, 0o660)
    return port
