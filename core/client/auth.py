"""How a client proves who it is: an access token, and TLS (with a client certificate for mutual TLS).

The token goes with every call as gRPC metadata `authorization: Bearer <token>`; a server with a
tokens file checks it (`stylelock.server.auth`). Hosts keep it in their preferences and hand it to
`StyleLockClient(address, token=...)`; without one, `$STYLELOCK_TOKEN` is used. TLS files come from
`TlsFiles(...)` or `$STYLELOCK_TLS_CA` (the server's CA), `$STYLELOCK_TLS_CERT` and
`$STYLELOCK_TLS_KEY` (this client's certificate, for a server that asks for one) and
`$STYLELOCK_TLS_SERVER_NAME` (the name on the server's certificate, when the address differs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from stylelock.core.errors import SpecError

AUTHORIZATION_KEY = "authorization"


def bearer(token: str) -> tuple[str, str]:
    """The metadata pair for `token`."""
    return (AUTHORIZATION_KEY, f"Bearer {token}")


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, details: grpc.ClientCallDetails, metadata: list[tuple[str, str]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class TokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the token's metadata to every call of the channel it wraps."""

    def __init__(self, token: str) -> None:
        self._pair = bearer(token)

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(details, [*(details.metadata or ()), self._pair])

    def _intercept(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    intercept_unary_unary = _intercept
    intercept_unary_stream = _intercept
    intercept_stream_unary = _intercept
    intercept_stream_stream = _intercept


def with_token(channel: grpc.Channel, token: str | None) -> grpc.Channel:
    """`channel` sending `token` with every call; the channel itself when there is no token."""
    return grpc.intercept_channel(channel, TokenInterceptor(token)) if token else channel


def token_from_env(token: str | None) -> str | None:
    """`token` when given (an empty string means none), else `$STYLELOCK_TOKEN`."""
    if token is not None:
        return token or None
    return os.environ.get("STYLELOCK_TOKEN") or None


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS connection: the CA that signed the server, and this client's pair."""

    ca: str
    cert: str = ""
    key: str = ""
    server_name: str = ""

    @classmethod
    def from_env(cls) -> TlsFiles | None:
        ca = os.environ.get("STYLELOCK_TLS_CA", "")
        if not ca:
            return None
        return cls(
            ca,
            os.environ.get("STYLELOCK_TLS_CERT", ""),
            os.environ.get("STYLELOCK_TLS_KEY", ""),
            os.environ.get("STYLELOCK_TLS_SERVER_NAME", ""),
        )

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str) -> bytes | None:
            if not path:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise SpecError(f"TLS file {path} cannot be read: {exc.strerror}") from None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca), private_key=read(self.key), certificate_chain=read(self.cert)
        )

    def options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
