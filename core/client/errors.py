"""gRPC status <-> `StyleLockError`: the one table both ends of the wire use.

The server aborts every failed RPC with the status named by the error's `grpc_status`, the
error's message as details and its class name in the trailing metadata key `ERROR_TYPE_KEY`; the
client raises the same subclass with the server's message, so hosts show it as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stylelock.core import errors as _errors
from stylelock.core.errors import (  # noqa: F401 - re-exported for the server and clients
    ServerInternalError,
    ServerUnavailableError,
    StyleLockError,
    UnknownJobError,
)

if TYPE_CHECKING:
    import grpc

#: Trailing-metadata key carrying the StyleLockError class name of a failed RPC.
ERROR_TYPE_KEY = "stylelock-error-type"


#: Class name -> every StyleLockError subclass of `stylelock.core.errors`, built once at import.
_BY_NAME: dict[str, type[StyleLockError]] = {
    name: value
    for name, value in vars(_errors).items()
    if isinstance(value, type) and issubclass(value, StyleLockError)
}


#: Status code name -> the class raised when the server names no (known) class.
_BY_CODE: dict[str, type[StyleLockError]] = {
    "INVALID_ARGUMENT": _errors.SpecError,
    "NOT_FOUND": _errors.FramesMissingError,
    "PERMISSION_DENIED": _errors.PathNotAllowedError,
    "UNAUTHENTICATED": _errors.AuthenticationError,
    "RESOURCE_EXHAUSTED": _errors.ResourceLimitError,
    "UNAVAILABLE": ServerUnavailableError,
    "DEADLINE_EXCEEDED": ServerUnavailableError,
    "CANCELLED": _errors.JobCancelledError,
    "DATA_LOSS": _errors.CorruptFrameError,
    "FAILED_PRECONDITION": _errors.EngineError,
}


def error_class(code: str, error_type: str = "") -> type[StyleLockError]:
    """The StyleLockError subclass for a status code name and an optional class name."""
    cls = _BY_NAME.get(error_type) if error_type else None
    if cls is not None:
        return cls
    return _BY_CODE.get(code, ServerInternalError)


def make_error(code: str, message: str, error_type: str = "") -> StyleLockError:
    return error_class(code, error_type)(message)


def status_of(error: BaseException) -> tuple[str, str, str]:
    """(status code name, message, class name) the server answers `error` with."""
    if isinstance(error, StyleLockError):
        return error.grpc_status, error.message, type(error).__name__
    text = f"internal server error ({type(error).__name__}: {error}); the server log has the details"
    return "INTERNAL", text, ServerInternalError.__name__


def error_from_rpc(exc: grpc.RpcError, address: str = "") -> StyleLockError:
    """Turn a failed call into the StyleLockError the server raised (or a transport failure)."""
    code = exc.code() if hasattr(exc, "code") else None
    code_name = code.name if code is not None else "UNKNOWN"
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    error_type = ""
    metadata = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in metadata or ():
        if key == ERROR_TYPE_KEY:
            error_type = value if isinstance(value, str) else value.decode()
    if not error_type:
        where = f" at {address}" if address else ""
        if code_name == "UNAVAILABLE":
            return ServerUnavailableError(f"cannot reach the StyleLock server{where}: {details}")
        if code_name == "DEADLINE_EXCEEDED":
            return ServerUnavailableError(f"the StyleLock server{where} did not answer in time")
        if code_name == "CANCELLED":
            return ServerUnavailableError(f"the call to the StyleLock server{where} was cancelled: {details}")
        if code_name == "UNAUTHENTICATED":
            return _errors.AuthenticationError(f"the StyleLock server{where} refused the call: {details}")
        if code_name == "RESOURCE_EXHAUSTED":
            return _errors.ResourceLimitError(f"the StyleLock server{where} refused a message: {details}")
    return make_error(code_name, details or f"server answered {code_name}", error_type)
