"""Failures as the one line a host shows on a node, in a status bar or an operator report."""

from __future__ import annotations

from stylelock.core.errors import StyleLockError

#: Longest line a host shows; longer messages are cut with an ellipsis.
MAX_LINE = 300


def one_line(error: BaseException) -> str:
    """The user-facing line for `error`: a `StyleLockError`'s message as it is, anything else named
    as an internal error (the host's log or script editor keeps the traceback)."""
    if isinstance(error, StyleLockError):
        text = error.message
    else:
        text = f"internal error: {type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"
