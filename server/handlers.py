"""Wrapping a gRPC method's behaviour, as the server's interceptors do (access, metrics).

grpcio hands an interceptor a `grpc.RpcMethodHandler` whose one non-None behaviour field says the
method's shape. A method that answers once (`unary_unary`, `stream_unary`) is wrapped by a plain
function; one that streams its answers (`unary_stream`, `stream_stream`) by a generator, so that
what the wrapper does around the behaviour runs while the replies are drawn, not when the call
object is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]

_SHAPES = (
    ("unary_unary", False),
    ("stream_unary", False),
    ("unary_stream", True),
    ("stream_stream", True),
)


def wrap_handler(handler: Any, answers_once: Wrapper, streams: Wrapper) -> Any:
    """`handler` with its behaviour wrapped by `answers_once` or `streams` by its shape."""
    for kind, streaming in _SHAPES:
        behaviour = getattr(handler, kind)
        if behaviour is not None:
            wrap = streams if streaming else answers_once
            return handler._replace(**{kind: wrap(behaviour)})
    return handler
