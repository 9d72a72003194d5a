"""Who is calling: access tokens and client certificates, checked once per call by an interceptor.

A server that listens beyond loopback must know its callers: by a bearer token in the call's
metadata (`authorization: Bearer <token>`, checked in constant time against a tokens file) or by a
client certificate (mutual TLS; the identity is the certificate's common name). The tokens file
holds one caller a line, `NAME TOKEN [admin]`; `#` starts a comment:

    # stylelock tokens: keep this file readable by the server's user only
    alice   6d1f...e2   admin
    farm    91ab...0c

Every job belongs to the identity that submitted it; others may see that it exists and how far it
got, but not its paths, and cannot watch or cancel it, unless they are admins. A server on loopback
or a unix socket with no tokens file serves one identity, `local`, to every caller.
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from stylelock.core.errors import AuthenticationError, SpecError
from stylelock.server.handlers import wrap_handler

AUTH_HEADER = "authorization"
LOCAL = "local"


@dataclass(frozen=True)
class Identity:
    name: str
    admin: bool = False

    def may_see(self, owner: str) -> bool:
        """True when this caller may see a job's details, watch it and cancel it."""
        return self.admin or self.name == owner


LOCAL_IDENTITY = Identity(LOCAL, admin=True)


def load_tokens(path: str | os.PathLike[str]) -> dict[str, Identity]:
    """token -> identity from a tokens file; refuses a file other users can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"tokens file {path} does not exist") from None
    except OSError as exc:
        raise SpecError(f"tokens file {path} cannot be read: {exc.strerror}") from None
    if os.name != "nt" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SpecError(f"tokens file {path} is readable by other users: chmod 600 {path}")
    tokens: dict[str, Identity] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "admin"):
            raise SpecError(f"tokens file {path} line {number}: expected NAME TOKEN [admin]")
        name, token = parts[0], parts[1]
        if len(token) < 16:
            raise SpecError(f"tokens file {path} line {number}: a token must be at least 16 characters")
        if token in tokens:
            raise SpecError(f"tokens file {path} line {number}: that token is already {tokens[token].name}'s")
        tokens[token] = Identity(name, admin=len(parts) == 3)
    if not tokens:
        raise SpecError(f"tokens file {path} names no caller")
    return tokens


class Authenticator:
    """Turns a call's metadata or client certificate into an `Identity` (or refuses the call)."""

    def __init__(
        self, tokens: dict[str, Identity] | None = None, *, client_certificates: bool = False
    ) -> None:
        self.tokens = dict(tokens or {})
        self.client_certificates = client_certificates

    @property
    def required(self) -> bool:
        return bool(self.tokens) or self.client_certificates

    def identify(self, context: grpc.ServicerContext) -> Identity:
        if not self.required:
            return LOCAL_IDENTITY
        offered = _bearer(context.invocation_metadata() or ())
        if offered is not None:
            found = None
            for token, identity in self.tokens.items():  # every token compared: constant time
                if hmac.compare_digest(token.encode(), offered.encode()):
                    found = identity
            if found is not None:
                return found
            raise AuthenticationError("the access token is not valid for this StyleLock server")
        if self.client_certificates:
            names = (context.auth_context() or {}).get("x509_common_name") or []
            if names:
                return Identity(names[0].decode() if isinstance(names[0], bytes) else str(names[0]))
        raise AuthenticationError(
            "this StyleLock server needs an access token (STYLELOCK_TOKEN) or a client certificate"
        )


def _bearer(metadata: Any) -> str | None:
    for key, value in metadata:
        if key == AUTH_HEADER:
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


class AuthInterceptor(grpc.ServerInterceptor):
    """Refuses every call (StyleLock, health, reflection) that does not identify its caller."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or not self.authenticator.required:
            return handler
        return _guarded(handler, self.authenticator)


def _guarded(handler: Any, authenticator: Authenticator) -> Any:
    def check(context: grpc.ServicerContext) -> None:
        try:
            authenticator.identify(context)
        except AuthenticationError as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)

    def unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            check(context)
            return behaviour(request, context)

        return call

    def stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            check(context)
            yield from behaviour(request, context)

        return call

    return wrap_handler(handler, unary, stream)
