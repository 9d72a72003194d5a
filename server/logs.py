"""The server's log lines: a UTC timestamp on every line, and the job and client on every line about
a job; text or one JSON object a line (`stylelock serve --log-json`).

Which job and which client a line concerns is found, in order, from:

1. the record itself: the pipeline logs through a `LoggerAdapter` carrying `job_id`;
2. the context of the thread that logs: `job_logging(job, client)` sets it (the RPC interceptor
   `service.LogContextInterceptor` sets the caller, and the job a request names; `pipeline.run_job` sets
   the job it runs);
3. the line's own arguments, for the job manager's lines, which all read `"job %s ..."`.

The client of a line with a job but no caller (a worker thread, the janitor) is the job's owner,
remembered from its submit and from every job event (`remember_owner`).

`configure()` holds lines back until `release()`: `stylelock serve` prints its address as its very
first line (scripts read it), so whatever is logged while the server starts comes right after it.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import datetime
import json
import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("stylelock_log_job", default=None)
_client: contextvars.ContextVar[str | None] = contextvars.ContextVar("stylelock_log_client", default=None)

#: Job owners remembered for lines logged outside an RPC (most recent jobs; far above max_history).
MAX_OWNERS = 10_000
_owners: collections.OrderedDict[str, str] = collections.OrderedDict()
_owners_lock = threading.Lock()


@contextlib.contextmanager
def job_logging(job: str | None = None, client: str | None = None) -> Iterator[None]:
    """Lines logged in this thread (context) inside the block name `job` and `client` (None: unchanged)."""
    tokens = []
    if job is not None:
        tokens.append((_job, _job.set(job)))
    if client is not None:
        tokens.append((_client, _client.set(client)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            with contextlib.suppress(ValueError):  # a generator closed from another context
                var.reset(token)


def remember_owner(job_id: str, owner: str) -> None:
    """Record who a job belongs to, so lines about it logged outside its RPCs name the client."""
    if not job_id or not owner:
        return
    with _owners_lock:
        _owners[job_id] = owner
        _owners.move_to_end(job_id)
        while len(_owners) > MAX_OWNERS:
            _owners.popitem(last=False)


def owner_listener(job: Any, event: Any) -> None:
    """A `JobManager.listeners` entry: every job that emits an event has its owner remembered."""
    remember_owner(job.job_id, job.owner)


def _job_in_arguments(record: logging.LogRecord) -> str | None:
    if isinstance(record.msg, str) and record.msg.startswith("job %s") and record.args:
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        if isinstance(args[0], str):
            return args[0]
    return None


class ContextFilter(logging.Filter):
    """Sets `record.job` and `record.client` ("" when the line concerns none) the first time a
    handler sees the record (so a held-back record keeps the context it was logged in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job"):
            job = getattr(record, "job_id", None) or _job.get() or _job_in_arguments(record)
            client = _client.get()
            if client is None and job:
                with _owners_lock:
                    client = _owners.get(job)
            record.job = job or ""
            record.client = client or ""
        return True


def _utc(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """`2025-06-01T09:30:12.345Z INFO stylelock.server.jobs job=3f2a9c client=alice: message`."""

    def format(self, record: logging.LogRecord) -> str:
        context = ""
        if getattr(record, "job", ""):
            context += f" job={record.job}"
        if getattr(record, "client", ""):
            context += f" client={record.client}"
        line = f"{_utc(record.created)} {record.levelname} {record.name}{context}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO-8601 UTC), level, logger, message, job, client (null when the
    line concerns none), and exception (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job": getattr(record, "job", "") or None,
            "client": getattr(record, "client", "") or None,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _Held(logging.handlers.MemoryHandler):
    """Keeps records until `release` (never flushes on its own), then passes everything through."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__(capacity=10_000, flushLevel=logging.CRITICAL + 1, target=target, flushOnClose=True)
        self.released = False

    def shouldFlush(self, record: logging.LogRecord) -> bool:
        return self.released or len(self.buffer) >= self.capacity


def configure(
    level: int = logging.INFO, *, json_lines: bool = False, stream: IO[str] | None = None
) -> Callable[[], None]:
    """Send the process's log lines to `stream` (stderr) at `level`, formatted as text or JSON, held
    back until `release()`. Replaces the root logger's handlers; returns a function that lets the
    held lines out and puts the previous handlers and level back."""
    target = logging.StreamHandler(stream or sys.stderr)
    target.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    target.addFilter(ContextFilter())
    held = _Held(target)
    held.addFilter(ContextFilter())  # context is taken when a line is logged, not when it is let out
    root = logging.getLogger()
    previous, previous_level = list(root.handlers), root.level
    for handler in previous:
        root.removeHandler(handler)
    root.addHandler(held)
    root.setLevel(level)

    def undo() -> None:
        release()
        root.removeHandler(held)
        for handler in previous:
            root.addHandler(handler)
        root.setLevel(previous_level)

    return undo


def release() -> None:
    """Let the held-back lines out, and every later one straight away."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _Held):
            handler.released = True
            handler.flush()
