"""`stylelock serve`: run the gRPC server until SIGTERM or Ctrl-C.

Settings come from defaults, then `--config server.toml` (same keys as the flags, with
underscores), then the flags. It listens on loopback unless told otherwise and prints the bound
address on its first line of output (scripts read it when they ask for port 0). It logs at INFO
(-vv: DEBUG) to stderr, text or JSON lines (`--log-json`); lines logged while it starts follow the
address line.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from stylelock.server.config import DEFAULT_LISTEN, load_config

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the StyleLock server (loopback only by default)",
        description="Run the StyleLock gRPC server. Settings: defaults < --config TOML < flags.",
    )
    parser.add_argument(
        "--listen", metavar="ADDR", help=f"host:port or unix:///path.sock (default {DEFAULT_LISTEN})"
    )
    parser.add_argument(
        "--allow-root",
        action="append",
        dest="allow_roots",
        metavar="DIR",
        help="a folder shared-path jobs may read and write (repeatable; replaces the config's list)",
    )
    parser.add_argument("--config", metavar="TOML", help="server settings file (same keys as these flags)")
    parser.add_argument("--max-queue", type=int, metavar="N", help="jobs that may wait (default 64)")
    parser.add_argument(
        "--max-active-jobs", type=int, metavar="N", help="jobs sharing the device (default 2)"
    )
    parser.add_argument("--max-frame-bytes", type=int, metavar="BYTES", help="largest uploaded file")
    parser.add_argument("--max-upload-bytes", type=int, metavar="BYTES", help="largest upload of one job")
    parser.add_argument("--spool-dir", metavar="DIR", help="where inline jobs keep their frames")
    parser.add_argument(
        "--idle-exit-s",
        type=float,
        metavar="S",
        help="stop after S seconds without jobs (a farm session's server)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="the journal of jobs and the inline result cache (kept across restarts)",
    )
    parser.add_argument(
        "--drain-s",
        type=float,
        metavar="S",
        help="on SIGTERM, running jobs may go on this long before they stop at a frame (default 60)",
    )
    ops = parser.add_argument_group("operation (docs/server.md)")
    ops.add_argument("--metrics-listen", metavar="HOST:PORT", help="serve Prometheus metrics at /metrics")
    ops.add_argument("--log-json", action="store_true", default=None, help="log one JSON object a line")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        default=None,
        help="allow a non-loopback --listen address (needs --tokens-file or --tls-client-ca)",
    )
    access = parser.add_argument_group("who may call (docs/security.md)")
    access.add_argument(
        "--tokens-file", metavar="FILE", help="callers' access tokens: NAME TOKEN [admin] a line"
    )
    access.add_argument("--tls-cert", metavar="PEM", help="the server's certificate (TLS, with --tls-key)")
    access.add_argument("--tls-key", metavar="PEM", help="the server's private key")
    access.add_argument(
        "--tls-client-ca", metavar="PEM", help="require client certificates signed by this CA"
    )
    access.add_argument("--socket-group", metavar="GROUP", help="a unix socket is 0660 for this group")
    models = parser.add_argument_group("models on local disk (diffusion engines)")
    for flag, dest, text in (
        ("--model", "models", "NAME=PATH: a diffusers folder or a .safetensors/.ckpt checkpoint"),
        ("--controlnet", "controlnets", "NAME=PATH: a ControlNet folder"),
        ("--ip-adapter", "ip_adapters", "[NAME=]PATH: an IP-Adapter folder (image encoder + weights)"),
        ("--motion-adapter", "motion_adapters", "[NAME=]PATH: an AnimateDiff motion adapter folder"),
        ("--model-config", "model_configs", "NAME=DIR: diffusers config folder for a single-file model"),
    ):
        models.add_argument(
            flag, action="append", dest=dest, metavar="NAME=PATH", help=f"{text} (repeatable)"
        )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stylelock.server import logs
    from stylelock.server.app import create_server
    from stylelock.server.health import SystemdNotifier

    overrides = {
        key: getattr(args, key, None)
        for key in (
            "listen",
            "allow_roots",
            "max_queue",
            "max_active_jobs",
            "max_frame_bytes",
            "max_upload_bytes",
            "spool_dir",
            "idle_exit_s",
            "state_dir",
            "drain_s",
            "metrics_listen",
            "log_json",
            "allow_remote",
            "tokens_file",
            "tls_cert",
            "tls_key",
            "tls_client_ca",
            "socket_group",
            "models",
            "controlnets",
            "ip_adapters",
            "motion_adapters",
            "model_configs",
        )
    }
    config = load_config(args.config, **overrides)
    level = logging.DEBUG if getattr(args, "verbose", 0) >= 2 else logging.INFO
    undo_logging = logs.configure(level, json_lines=config.log_json)
    try:
        server, address = create_server(config.listen, config=config)
    except BaseException:
        undo_logging()  # what was logged comes out; the caller's logging is as it was
        raise
    server.start()
    print(f"stylelock server listening on {address}", flush=True)
    if server.manager.roots.roots:
        print(f"shared-path roots: {', '.join(server.manager.roots.roots)}", flush=True)
    for kind, names in server.models.items():
        listed = ", ".join(f"{name}={path}" for name, path in names.items())
        print(f"{kind.replace('_', ' ')}: {listed}", flush=True)
    if server.metrics_address:
        print(f"metrics: http://{server.metrics_address}/metrics", flush=True)
    logs.release()
    server.health.add_watcher(SystemdNotifier())  # Type=notify units: READY=1 once models are loadable
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if config.idle_exit_s and server.manager.idle_seconds() > config.idle_exit_s:
                print(f"stylelock server idle for {config.idle_exit_s:g} s", flush=True)
                break
    finally:
        # a second signal while draining stops at once (the running jobs stop after their frame)
        for signum in previous:
            signal.signal(signum, lambda *_: server.manager.cut_drain())
        print(
            f"stylelock server stopping (running jobs may finish for up to {config.drain_s:g} s)", flush=True
        )
        server.drain(config.drain_s, config.grace_s).wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
