"""One job spread over several servers: contiguous chunks, each a job of its own on one server.

A job's state lives on the server that runs it (its engine's passes, warm-up), so a job cannot be
balanced call by call; it is cut into contiguous chunks instead, and each chunk runs as its own job
under the engines' warm-up contract, which makes a chunk the same bytes as the unchunked run. Each
server takes the next chunk when it finishes one. When a server dies mid-chunk, that chunk goes back
to the queue and another server runs it: frames the dead server already wrote are complete (every
frame is written atomically) and, on shared paths, the next server's resume skips them.

    frames = run_spread(["gpu1:50151", "gpu2:50151"], spec, on_event=print)
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Sequence

from stylelock.core.client import events as kinds
from stylelock.core.client.events import JobEvent
from stylelock.core.client.remote import run_remote
from stylelock.core.errors import (
    JobCancelledError,
    ServerInternalError,
    ServerUnavailableError,
    SpecError,
    StyleLockError,
)
from stylelock.core.jobspec import JobSpec
from stylelock.core.sequence import format_frames, parse_frames

log = logging.getLogger(__name__)

#: Chunks per server. One by default: a chunk that starts mid-shot re-runs the engine's warm-up (the
#: keyframe engine carries paint from the keyframe before it), so more chunks cost more warm-up; more
#: than one lets a fast server take over work a slow one has not started.
CHUNKS_PER_SERVER = 1


def resolve_servers(text: str) -> list[str]:
    """Server addresses from `host1:port,host2:port`, or from one DNS name resolving to several hosts.

    A name that resolves to one address (or a unix socket) is kept as written."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise SpecError("no server address given")
    if len(parts) > 1 or parts[0].startswith("unix:"):
        return parts
    host, sep, port = parts[0].rpartition(":")
    if not sep or not port.isdigit():
        raise SpecError(f"server {parts[0]!r} must look like host:port or unix:///path")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
    except OSError:
        return parts  # the connection will name the failure
    # a host with both an IPv4 and an IPv6 address is one server: take one family, IPv4 first
    v4 = [info for info in infos if info[0] == socket.AF_INET]
    addresses: list[str] = []
    for family, _, _, _, sockaddr in v4 or infos:
        ip = str(sockaddr[0])
        address = f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}"
        if address not in addresses:
            addresses.append(address)
    return addresses if len(addresses) > 1 else parts


def split_chunks(frames: Sequence[int], count: int) -> list[list[int]]:
    """`frames` (ascending) cut into at most `count` contiguous chunks of near-equal length."""
    count = max(1, min(count, len(frames)))
    size, extra = divmod(len(frames), count)
    chunks, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        chunks.append(list(frames[start:end]))
        start = end
    return chunks


def run_spread(
    addresses: Sequence[str],
    spec: JobSpec,
    *,
    inline: bool | None = None,
    on_event: Callable[[JobEvent, str], None] | None = None,
    cancel: threading.Event | None = None,
    chunks_per_server: int = CHUNKS_PER_SERVER,
) -> list[int]:
    """Run `spec` over `addresses`; returns every frame written. `on_event(event, address)` sees each
    server's events. A chunk whose server fails is run again on another; when every server has
    failed, the last failure is raised. Any other error stops the whole job and is raised."""
    if not addresses:
        raise SpecError("no server to run on")
    cancel = cancel or threading.Event()
    if len(addresses) == 1:  # one server: one job, no chunk warm-up
        single = addresses[0]
        report = (lambda event: on_event(event, single)) if on_event is not None else None
        return run_remote(single, spec, inline=inline, on_event=report, cancel=cancel)
    frames = parse_frames(spec.frames)
    pending = split_chunks(frames, len(addresses) * max(1, chunks_per_server))
    state = _Spread(pending, len(addresses))
    workers = [
        threading.Thread(
            target=state.serve,
            args=(address, spec, inline, on_event, cancel),
            name=f"stylelock-spread-{index}",
            daemon=True,
        )
        for index, address in enumerate(addresses)
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(0.1)
    except KeyboardInterrupt:
        cancel.set()
        for worker in workers:
            worker.join(30)
        raise JobCancelledError("cancelled; finished frames are on disk") from None
    return state.result(cancel)


class _Spread:
    """The chunks still to run and what the servers reported, shared by one worker per server."""

    def __init__(self, chunks: list[list[int]], servers: int) -> None:
        self.queue = chunks
        self.alive = servers
        self.running = 0
        self.done: list[int] = []
        self.unavailable: ServerUnavailableError | None = None
        self.failure: StyleLockError | None = None
        self.cond = threading.Condition()

    def _next(self) -> list[int] | None:
        with self.cond:
            while not self.queue and self.running and self.failure is None:
                self.cond.wait(0.5)
            if not self.queue or self.failure is not None:
                return None
            self.running += 1
            return self.queue.pop(0)

    def serve(
        self,
        address: str,
        spec: JobSpec,
        inline: bool | None,
        on_event: Callable[[JobEvent, str], None] | None,
        cancel: threading.Event,
    ) -> None:
        def report(event: JobEvent) -> None:
            if on_event is not None:
                on_event(event, address)

        while not cancel.is_set() and (chunk := self._next()) is not None:
            chunk_spec = spec.with_changes(frames=format_frames(chunk))
            written: list[int] | None = None
            try:
                written = run_remote(address, chunk_spec, inline=inline, on_event=report, cancel=cancel)
            except ServerUnavailableError as exc:
                self._lost(address, chunk, exc)
                note = (
                    f"server {address} failed ({exc.message}); its frames {chunk_spec.frames} move to another"
                )
                log.warning("%s", note)
                try:
                    report(JobEvent(kinds.WARNING, message=note))
                except Exception:  # the caller's callback failing must not stop the others
                    log.exception("reporting a server failure failed")
                return
            except BaseException as exc:  # anything else stops the whole job, never hangs it
                failure = (
                    exc
                    if isinstance(exc, StyleLockError)
                    else ServerInternalError(f"the job on {address} stopped: {type(exc).__name__}: {exc}")
                )
                with self.cond:
                    self.failure = self.failure or failure
                cancel.set()
                return
            finally:
                with self.cond:
                    self.running -= 1
                    if written is not None:
                        self.done.extend(written)
                    self.cond.notify_all()

    def _lost(self, address: str, chunk: list[int], exc: ServerUnavailableError) -> None:
        """`address` is gone: its chunk goes back to the front of the queue for another server."""
        with self.cond:
            self.queue.insert(0, chunk)
            self.alive -= 1
            self.unavailable = exc
            self.cond.notify_all()

    def result(self, cancel: threading.Event) -> list[int]:
        if self.failure is not None:
            raise self.failure
        if self.queue:
            if cancel.is_set():
                raise JobCancelledError("cancelled; finished frames are on disk")
            assert self.unavailable is not None
            raise ServerUnavailableError(f"every server failed; the last: {self.unavailable.message}")
        return sorted(self.done)
