"""One exception hierarchy for the whole product.

Every error a user can cause is a `StyleLockError` subclass carrying a one-line human message, the
CLI exit code and the gRPC status code name the server answers with. The CLI and the gRPC boundary
each translate these in exactly one place, so a new command or RPC cannot forget to.
"""

from __future__ import annotations


class StyleLockError(Exception):
    """Base of every expected, user-facing failure. The message is shown to the user as it is."""

    exit_code: int = 1
    grpc_status: str = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SpecError(StyleLockError):
    """A job spec, parameter or command-line value is malformed or out of range."""

    exit_code = 2
    grpc_status = "INVALID_ARGUMENT"


class UnknownEngineError(SpecError):
    """The job names an engine that is not registered."""


class ColourError(SpecError):
    """An OpenColorIO config or colour space cannot be found or used."""


class FramesMissingError(StyleLockError):
    """Frames of the requested range do not exist on disk."""

    exit_code = 3
    grpc_status = "NOT_FOUND"


class CorruptFrameError(StyleLockError):
    """A frame exists but cannot be decoded (truncated, not an EXR, unreadable)."""

    exit_code = 4
    grpc_status = "DATA_LOSS"


class PlateMismatchError(StyleLockError):
    """Frames of one plate disagree (resolution, channels) where the job needs them to agree."""

    exit_code = 4
    grpc_status = "FAILED_PRECONDITION"


class OutputError(StyleLockError):
    """An output cannot be written (permissions, missing folder that cannot be created, disk full)."""

    exit_code = 5
    grpc_status = "FAILED_PRECONDITION"


class PathNotAllowedError(StyleLockError):
    """A shared path lies outside the server's allowed roots."""

    exit_code = 6
    grpc_status = "PERMISSION_DENIED"


class AccessDeniedError(StyleLockError):
    """The caller may not do this: another identity's job, or a call without valid credentials."""

    exit_code = 6
    grpc_status = "PERMISSION_DENIED"


class AuthenticationError(AccessDeniedError):
    """The call carries no valid access token or client certificate."""

    grpc_status = "UNAUTHENTICATED"


class ResourceLimitError(StyleLockError):
    """A request exceeds a configured limit (frame size, queue length, memory)."""

    exit_code = 7
    grpc_status = "RESOURCE_EXHAUSTED"


class EngineError(StyleLockError):
    """An engine failed on valid input (a model that will not load, a device error)."""

    exit_code = 8
    grpc_status = "FAILED_PRECONDITION"


class ServerUnavailableError(StyleLockError):
    """The StyleLock server cannot be reached or went away."""

    exit_code = 9
    grpc_status = "UNAVAILABLE"


class UnknownJobError(StyleLockError):
    """A job id the server does not know (never submitted, or forgotten after it ended)."""

    exit_code = 2
    grpc_status = "NOT_FOUND"


class ServerInternalError(StyleLockError):
    """The server failed in a way it did not expect (its log has the details)."""

    exit_code = 1
    grpc_status = "INTERNAL"


class JobCancelledError(StyleLockError):
    """The job was cancelled by the user; finished frames stay on disk, no partial frame does."""

    exit_code = 130
    grpc_status = "CANCELLED"


#: Documented CLI exit codes (docs/cli.md mirrors this table; a test keeps them in sync).
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error",
    2: "bad job spec, parameter, engine or colour space",
    3: "frames missing on disk",
    4: "corrupt frame or frames that disagree",
    5: "output cannot be written",
    6: "path outside the server's allowed roots, or access denied (no valid token, another's job)",
    7: "a resource limit was exceeded",
    8: "an engine failed (model does not load, device error)",
    9: "server unavailable",
    10: "a QC threshold was exceeded or could not be measured",
    130: "cancelled (Ctrl-C or stylelock cancel)",
}
