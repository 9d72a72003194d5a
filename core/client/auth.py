"""An access token sent with every call, as gRPC metadata `authorization: Bearer <token>`.

The server does not check tokens yet (it listens on loopback unless started with `--allow-remote`,
see docs/server.md); a gateway or proxy in front of it can. Hosts keep the token in their
preferences and hand it to `StyleLockClient(address, token=...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

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
