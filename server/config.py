"""Server settings: defaults, a TOML file with the same keys, and command-line flags that win.

Example `server.toml`::

    listen = "127.0.0.1:50151"
    allow_roots = ["/shows/projA", "/scratch/render"]
    max_queue = 32
    max_active_jobs = 2
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomllib

from stylelock.core.errors import SpecError
from stylelock.core.exr.limits import DecodeLimits

DEFAULT_PORT = 50151
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class ServerConfig:
    """Everything `stylelock serve` can be told. Sizes are bytes, times seconds."""

    listen: str = DEFAULT_LISTEN
    allow_roots: tuple[str, ...] = ()
    """Folders shared-path jobs may read and write. Empty: inline transport only."""
    allow_remote: bool = False
    """Listening on a non-loopback address needs this, and a way to know callers (tokens or mTLS)."""
    tokens_file: str = ""
    """Callers and their access tokens, `NAME TOKEN [admin]` a line (`stylelock.server.auth`)."""
    tls_cert: str = ""
    """The server's certificate (PEM); with `tls_key`, the server speaks TLS."""
    tls_key: str = ""
    tls_client_ca: str = ""
    """A CA (PEM): callers must show a certificate it signed (mutual TLS); its common name names them."""
    socket_group: str = ""
    """A unix socket is created 0600 for the server's user; a group here makes it 0660 for that group."""
    max_queue: int = 64
    """Jobs waiting (queued or uploading) beyond this are refused with RESOURCE_EXHAUSTED."""
    max_active_jobs: int = 2
    """Jobs running at once; they share the compute device turn by turn, one frame each."""
    max_frame_bytes: int = 2 * GIB
    """Largest single uploaded file (one EXR frame or style reference)."""
    max_upload_bytes: int = 64 * GIB
    """Largest total upload of one inline job."""
    max_message_bytes: int = 4 * MIB
    """gRPC send and receive limit; a chunk is at most `chunk_bytes`, far below this."""
    chunk_bytes: int = MIB
    spool_dir: str = ""
    """Where inline jobs keep uploaded and finished frames; '' means `spool` in the state folder."""
    upload_timeout_s: float = 600.0
    """An inline job whose frames do not arrive within this many seconds is dropped."""
    stall_timeout_s: float = 60.0
    """An upload stream that sends nothing for this long is closed (and its job dropped)."""
    max_streams_per_client: int = 16
    """Open watch and upload streams one caller may have (each holds a server thread)."""
    spool_ttl_s: float = 3600.0
    """Finished frames of an inline job stay this long unless a client has downloaded them all."""
    max_job_frames: int = 100_000
    """Frames one job may ask for (a range such as 1-9999999 is refused before it is listed)."""
    max_jobs_per_client: int = 32
    """Jobs one caller may have waiting or running at once."""
    max_frame_pixels: int = 8192 * 8192
    """Largest frame (data window) the server decodes, checked from its header first."""
    max_frame_channels: int = 512
    max_decoded_frame_bytes: int = 2 * GIB
    """Largest decoded frame (pixels x channel bytes), checked from its header first."""
    state_dir: str = ""
    """The server's journal of jobs and finished frames, its cache of inline results and (unless
    `spool_dir` is set) its spool, kept across restarts; '' means one folder per listening address
    under ~/.local/state/stylelock (a server on port 0: a temporary one). `stylelock.server.state`."""
    result_cache_bytes: int = 20 * GIB
    """Finished frames of inline jobs kept by resume key, so a re-run makes only what is missing."""
    drain_s: float = 60.0
    """On SIGTERM running jobs may finish the frames they have for this long, then stop at a frame."""
    metrics_listen: str = ""
    """HOST:PORT for Prometheus metrics over HTTP (`/metrics`); '' serves none."""
    log_json: bool = False
    """Log one JSON object a line (time, level, job, client, message) instead of text."""
    max_history: int = 200
    """Ended jobs the server remembers (for ListJobs, WatchJob replays and idempotent retries)."""
    max_engines: int = 2
    grace_s: float = 5.0
    """Seconds in-flight calls get when the server stops."""
    idle_exit_s: float = 0.0
    """Stop after this many seconds with no job waiting or running and none submitted (0: never). A
    farm worker's session server uses it, so a worker that dies never leaves it holding the GPU."""
    models: tuple[str, ...] = ()
    """Diffusion models on local disk as NAME=PATH (a diffusers folder or a .safetensors file)."""
    controlnets: tuple[str, ...] = ()
    """ControlNets as NAME=PATH (folders)."""
    ip_adapters: tuple[str, ...] = ()
    """IP-Adapters as PATH or NAME=PATH (folders with the image encoder and adapter weights)."""
    motion_adapters: tuple[str, ...] = ()
    """AnimateDiff motion adapters as PATH or NAME=PATH."""
    model_configs: tuple[str, ...] = ()
    """Diffusers config folders for single-file models as NAME=DIR."""

    def __post_init__(self) -> None:
        for name in LIST_SETTINGS:
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        for name in (
            "max_queue",
            "max_active_jobs",
            "max_frame_bytes",
            "max_upload_bytes",
            "max_history",
            "max_job_frames",
            "max_jobs_per_client",
            "max_streams_per_client",
            "max_frame_pixels",
            "max_frame_channels",
            "max_decoded_frame_bytes",
            "result_cache_bytes",
        ):
            if int(getattr(self, name)) < 1:
                raise SpecError(f"server setting {name}={getattr(self, name)} must be at least 1")
        if not 64 * 1024 <= self.chunk_bytes <= self.max_message_bytes // 2:
            raise SpecError(
                f"server setting chunk_bytes={self.chunk_bytes} must lie between 64 KiB and half "
                f"of max_message_bytes ({self.max_message_bytes})"
            )

    def with_overrides(self, values: Mapping[str, Any]) -> ServerConfig:
        """A copy with the given keys replaced; None values are ignored (flag not given)."""
        return replace(self, **_checked(values, "overrides"))


#: Settings that hold a list of text values (flags that repeat, TOML arrays).
LIST_SETTINGS = ("allow_roots", "models", "controlnets", "ip_adapters", "motion_adapters", "model_configs")


def _checked(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(ServerConfig)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        key = key.replace("-", "_")
        if key not in types:
            known = ", ".join(sorted(types))
            raise SpecError(f"unknown server setting {key!r} in {origin} (known: {known})")
        expected = types[key]
        if key in LIST_SETTINGS:
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                what = "folders" if key == "allow_roots" else "NAME=PATH values"
                raise SpecError(f"server setting {key} in {origin} must be a list of {what}")
        elif expected == "bool":
            if not isinstance(value, bool):
                raise SpecError(f"server setting {key}={value!r} in {origin} must be true or false")
        elif expected == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecError(f"server setting {key}={value!r} in {origin} must be a whole number")
        elif expected == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(f"server setting {key}={value!r} in {origin} must be a number")
            value = float(value)
        elif not isinstance(value, str):
            raise SpecError(f"server setting {key}={value!r} in {origin} must be text")
        out[key] = value
    return out


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> ServerConfig:
    """Defaults, then the TOML file at `path` (if any), then `overrides` (None values skipped)."""
    config = ServerConfig()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"server config file {os.fspath(path)} does not exist") from None
        except OSError as exc:
            raise SpecError(f"server config file {os.fspath(path)} cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"server config file {os.fspath(path)} is not valid TOML: {exc}") from None
        base = Path(path).resolve().parent
        checked = _checked(data, os.fspath(path))
        if "allow_roots" in checked:  # relative roots are relative to the config file
            checked["allow_roots"] = tuple(str(base / r) for r in checked["allow_roots"])
        for folder in ("spool_dir", "state_dir"):
            if checked.get(folder):
                checked[folder] = str(base / checked[folder])
        config = replace(config, **checked)
    return config.with_overrides(overrides)


def decode_limits(config: ServerConfig) -> DecodeLimits:
    """What a frame's header may ask of this server before its pixels are allocated."""
    return DecodeLimits(config.max_frame_pixels, config.max_frame_channels, config.max_decoded_frame_bytes)


__all__ = ["DEFAULT_LISTEN", "DEFAULT_PORT", "ServerConfig", "decode_limits", "load_config"]
