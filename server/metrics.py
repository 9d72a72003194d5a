"""Prometheus metrics of one server, in the text exposition format (served by `ops_http`).

Counters and the engine-time histogram are fed as things happen: job events through the job
manager's listeners (`Metrics.job_event`), RPC status codes through `MetricsInterceptor` (the
outermost interceptor, so refusals by authentication count as well as `StyleLockError`s mapped by
the error boundary). Gauges (queue depth, running jobs, readiness, GPU and process memory) are read
when scraped. docs/server.md lists every name.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc

from stylelock.core import __version__
from stylelock.core.client import events as kinds
from stylelock.server.handlers import wrap_handler

#: Upper bounds (seconds) of the engine-time histogram: a passthrough frame to a diffusion window.
ENGINE_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    text = ",".join(f'{name}="{_escape(str(value))}"' for name, value in pairs)
    return "{" + text + "}" if text else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class Histogram:
    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * len(self.bounds)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[index] += 1
        self.count += 1
        self.sum += value


class Metrics:
    """One server's metrics. Thread-safe; `render()` gives the page a scrape reads."""

    def __init__(
        self,
        jobs: Callable[[], Iterable[Any]] = list,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        """`jobs()`: the jobs not yet ended (anything with a `state`); `ready()`: readiness."""
        self.jobs = jobs
        self.ready = ready
        self._lock = threading.Lock()
        self.jobs_ended: Counter[str] = Counter({kinds.FINISHED: 0, kinds.FAILED: 0, kinds.CANCELLED: 0})
        self.frames_done = 0
        self.frames_resumed = 0
        self.engine_seconds = Histogram(ENGINE_SECONDS_BUCKETS)
        self.grpc_errors: Counter[tuple[str, str]] = Counter()

    # -- what happens ---------------------------------------------------------------------------------
    def job_event(self, job: Any, event: Any) -> None:
        """A `JobManager.listeners` entry (called under the manager's lock: quick, never raises)."""
        if event.kind == kinds.FRAME_DONE:
            with self._lock:
                if event.skipped:
                    self.frames_resumed += 1
                    return
                self.frames_done += 1
                engine = event.timings.get("engine")
                if engine is not None and math.isfinite(engine):
                    self.engine_seconds.observe(max(0.0, float(engine)))
        elif event.terminal:
            state = {kinds.FINISHED: kinds.FINISHED, kinds.CANCELLED: kinds.CANCELLED}.get(
                event.kind, kinds.FAILED
            )
            with self._lock:
                self.jobs_ended[state] += 1

    def rpc_ended(self, method: str, code: grpc.StatusCode | None) -> None:
        """Count an RPC that ended with `code` (None or OK count nothing)."""
        if code is None or code == grpc.StatusCode.OK:
            return
        with self._lock:
            self.grpc_errors[(method.lstrip("/"), code.name)] += 1

    # -- the page -----------------------------------------------------------------------------------------
    def render(self) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, text: str, samples: Iterable[tuple[str, str, float]]) -> None:
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{suffix}{labels} {_number(value)}" for suffix, labels, value in samples)

        states = Counter(job.state for job in self.jobs())
        with self._lock:
            ended = dict(self.jobs_ended)
            frames_done, frames_resumed = self.frames_done, self.frames_resumed
            bounds, counts = self.engine_seconds.bounds, list(self.engine_seconds.counts)
            seconds_sum, seconds_count = self.engine_seconds.sum, self.engine_seconds.count
            errors = dict(self.grpc_errors)
        waiting = states[kinds.QUEUED] + states[kinds.UPLOADING]
        family(
            "stylelock_build_info",
            "gauge",
            "The server's version.",
            [("", _labels([("version", __version__)]), 1)],
        )
        family(
            "stylelock_ready", "gauge", "1 while the server takes jobs.", [("", "", 1 if self.ready() else 0)]
        )
        family("stylelock_queue_depth", "gauge", "Jobs waiting: queued or uploading.", [("", "", waiting)])
        family("stylelock_jobs_running", "gauge", "Jobs running.", [("", "", states[kinds.RUNNING])])
        by_state = [("", _labels([("state", state)]), n) for state, n in sorted(ended.items())]
        family("stylelock_jobs_ended_total", "counter", "Jobs that ended, by how.", by_state)
        family("stylelock_frames_done_total", "counter", "Frames made.", [("", "", frames_done)])
        family("stylelock_frames_resumed_total", "counter", "Frames found made.", [("", "", frames_resumed)])
        buckets = [("_bucket", _labels([("le", _number(b))]), c) for b, c in zip(bounds, counts, strict=True)]
        buckets += [("_bucket", _labels([("le", "+Inf")]), seconds_count)]
        buckets += [("_sum", "", seconds_sum), ("_count", "", seconds_count)]
        family("stylelock_engine_seconds_per_frame", "histogram", "Engine seconds per frame made.", buckets)
        by_code = [("", _labels([("method", m), ("code", c)]), n) for (m, c), n in sorted(errors.items())]
        family("stylelock_grpc_errors_total", "counter", "RPCs that ended other than OK.", by_code)
        gpus = list(gpu_memory())
        if gpus:
            allocated = [("", _labels([("device", str(i))]), a) for i, a, _ in gpus]
            reserved = [("", _labels([("device", str(i))]), r) for i, _, r in gpus]
            family("stylelock_gpu_memory_allocated_bytes", "gauge", "GPU memory in tensors.", allocated)
            family("stylelock_gpu_memory_reserved_bytes", "gauge", "GPU memory torch reserved.", reserved)
        rss = resident_memory()
        if rss is not None:
            family("process_resident_memory_bytes", "gauge", "Resident memory.", [("", "", rss)])
        return "\n".join(lines) + "\n"


def gpu_memory() -> Iterator[tuple[int, int, int]]:
    """(device index, allocated, reserved) bytes per CUDA device, once torch is loaded (the engines
    load it; a server that has loaded none has no GPU memory of its own) and CUDA is available."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_available():
        return
    for index in range(cuda.device_count()):
        yield index, int(cuda.memory_allocated(index)), int(cuda.memory_reserved(index))


def resident_memory() -> int | None:
    """The process's resident memory in bytes (Linux: /proc/self/statm); None where unknown."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts every RPC (StyleLock, health, reflection) that ends with a status other than OK, by
    method and code: errors the error boundary mapped, and refusals by the interceptors after this
    one (UNAUTHENTICATED). Put it first in the server's interceptors."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None:
            return handler
        method, ended = details.method, self.metrics.rpc_ended

        def unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    response = behaviour(request, context)
                except BaseException:
                    ended(method, context.code() or grpc.StatusCode.UNKNOWN)
                    raise
                ended(method, context.code())
                return response

            return call

        def stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                try:
                    yield from behaviour(request, context)
                except GeneratorExit:  # the client went away; nothing to count
                    raise
                except BaseException:
                    ended(method, context.code() or grpc.StatusCode.UNKNOWN)
                    raise
                ended(method, context.code())

            return call

        return wrap_handler(handler, unary, stream)
