"""Decoding an untrusted image in a worker process, so that a decoder crash, hang or runaway
allocation fails that one file and never the process that asked.

A server checks every uploaded frame's header itself (`limits.check_header_bytes`), but the
decoder (OpenImageIO and OpenEXR, C++) still meets bytes nobody has looked at: the chunks, their
offsets, the compressed data. Before an inline job is queued, `DecodeWorkers` decodes each uploaded
file completely, as the job will (`read_exr` with the server's `DecodeLimits`; a PNG/JPEG/TIFF style
reference as `style_image` reads it), in a small pool of long-lived worker processes
(`python -m stylelock.core.exr.worker`). Each decode runs under an address-space limit (twice the
decoded-bytes limit, plus room for the interpreter; POSIX only) and a wall-clock timeout. A worker
that dies (a segfault, an abort, the kernel's OOM killer) or overruns the timeout is killed and
replaced, and the file is refused: CorruptFrameError (DATA_LOSS) naming the file and what happened; a decode
that ran out of its memory is ResourceLimitError (RESOURCE_EXHAUSTED). The same bytes are later
decoded in the job's own process only after a worker has decoded them without harm.

The protocol is one JSON line each way over the worker's stdin and stdout (the worker's own fd 1
points at its stderr, so nothing a library prints can corrupt it).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from stylelock.core.errors import CorruptFrameError, FramesMissingError, ResourceLimitError, StyleLockError
from stylelock.core.exr.limits import DecodeLimits

log = logging.getLogger(__name__)

#: Address space a worker needs besides the frame: the interpreter, numpy, OpenImageIO and its threads.
BASE_MEMORY = 1024**3
#: A decode slower than this is taken for a hang: a frame at the server's default limit (2 GiB
#: decoded) takes 10-20 s on a loaded 2-core machine. Below the server's stalled-upload timeout (60 s),
#: which counts from the last chunk received.
DEFAULT_TIMEOUT_S = 50.0
#: The kinds of file a worker decodes: an EXR (frames, EXR style references) or a display picture.
KINDS = ("exr", "display")
_ERRORS: dict[str, type[StyleLockError]] = {
    cls.__name__: cls for cls in (CorruptFrameError, ResourceLimitError, FramesMissingError)
}


class _WorkerLost(Exception):
    """The worker died or overran its time; the message says which."""


class _Worker:
    """One worker process, and a thread that hands its reply lines over (a pipe read with a timeout
    that works on every platform)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stylelock.core.exr.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self._replies: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, name="stylelock-decode-replies", daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        for line in stream:
            self._replies.put(line)
        self._replies.put(b"")  # the worker is gone
        stream.close()

    def ask(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait for its reply; _WorkerLost when the worker dies or overruns."""
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:  # BrokenPipeError: it died before it could read the request
            raise _WorkerLost(self._death()) from None
        try:
            line = self._replies.get(timeout=timeout_s)
        except queue.Empty:
            self.kill()
            raise _WorkerLost(f"the decoder took longer than {timeout_s:g} s") from None
        if not line:
            raise _WorkerLost(self._death())
        return json.loads(line)

    def _death(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "the decoder stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the decoder crashed ({name})"
        return f"the decoder exited with status {code}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        with contextlib.suppress(OSError):
            self.process.stdin.close()

    @property
    def pid(self) -> int:
        return self.process.pid


class DecodeWorkers:
    """A pool of `size` decoder processes, started on first use and replaced when one is lost."""

    def __init__(
        self, size: int = 2, *, timeout_s: float = DEFAULT_TIMEOUT_S, memory_bytes: int | None = None
    ) -> None:
        """`memory_bytes`: the address space a decode may use; default twice the request's
        `DecodeLimits.max_decoded_bytes` plus `BASE_MEMORY`."""
        self.size = size
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def check(self, path: str, limits: DecodeLimits, name: str = "", kind: str = "exr") -> None:
        """Decode `path` completely in a worker; return when it decodes, raise a StyleLockError
        (naming the file as `name`) when it does not, crashes the decoder or takes too long."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of file {kind!r}")
        name = name or path
        memory = self.memory_bytes or 2 * limits.max_decoded_bytes + BASE_MEMORY
        request = {
            "path": path,
            "kind": kind,
            "memory": memory,
            "limits": [limits.max_pixels, limits.max_channels, limits.max_decoded_bytes],
        }
        with self._slots:
            worker = self._take()
            try:
                reply = worker.ask(request, self.timeout_s)
            except _WorkerLost as lost:
                self._discard(worker)
                log.warning("%s: %s; the worker was replaced", name, lost)
                raise CorruptFrameError(f"{name} cannot be decoded: {lost}; the file is refused") from None
            except BaseException:
                self._discard(worker)
                raise
            self._give_back(worker)
        error = reply.get("error")
        if error:
            message = str(reply.get("message", "")).replace(path, name)
            raise _ERRORS.get(error, CorruptFrameError)(message)

    def submit(self, path: str, limits: DecodeLimits, name: str = "", kind: str = "exr") -> Future[None]:
        """`check` on one of the pool's threads: the caller goes on (receiving the next file)."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="stylelock-decode")
            executor = self._executor
        return executor.submit(self.check, path, limits, name, kind)

    def pids(self) -> list[int]:
        """The worker processes alive now (idle or decoding)."""
        with self._lock:
            return [w.pid for w in [*self._idle, *self._busy] if w.process.poll() is None]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._idle = [*self._idle, *self._busy], []
            executor, self._executor = self._executor, None
        for worker in workers:
            worker.kill()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise CorruptFrameError("the server's decoder workers are shutting down")
            while self._idle:
                worker = self._idle.pop()
                if worker.process.poll() is None:
                    self._busy.add(worker)
                    return worker
                worker.kill()
            worker = _Worker()
            self._busy.add(worker)
            return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if self._closed:
                worker.kill()
            else:
                self._idle.append(worker)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
        worker.kill()


_DEFAULT: DecodeWorkers | None = None
_DEFAULT_LOCK = threading.Lock()


def default_workers() -> DecodeWorkers:
    """The process's shared pool, closed at exit: half the CPUs' worth of workers, two to four (a
    1080p frame of ten half-float channels takes about 0.25 s to decode on one core)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = DecodeWorkers(min(4, max(2, (os.cpu_count() or 2) // 2)))
            atexit.register(_DEFAULT.close)
        return _DEFAULT


# -- the worker's side ------------------------------------------------------------------------------
def _decode(request: dict[str, Any]) -> None:
    path, kind = request["path"], request["kind"]
    limits = DecodeLimits(*request["limits"])
    if kind == "exr":
        from stylelock.core.exr.read import read_exr

        read_exr(path, limits)
        return
    import OpenImageIO as oiio

    from stylelock.core.style_image import read_display_image

    source = oiio.ImageInput.open(path)
    if source is None:
        raise CorruptFrameError(f"{path} cannot be decoded: {' '.join(oiio.geterror().split())}")
    try:
        spec = source.spec()
        limits.check(spec.width, spec.height, ["float"] * spec.nchannels, path)
    finally:
        source.close()
    read_display_image(path)


def _serve() -> None:
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the timeout and the process boundary still hold
        resource = None

    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the replies
    if resource is not None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
    for line in sys.stdin:
        request = json.loads(line)
        memory = int(request["memory"])
        if resource is not None:
            if hard != resource.RLIM_INFINITY:
                memory = min(memory, hard)
            resource.setrlimit(resource.RLIMIT_AS, (memory, hard))
        reply: dict[str, Any] = {"ok": True}
        try:
            _decode(request)
        except StyleLockError as exc:
            reply = {"error": type(exc).__name__, "message": exc.message}
        except MemoryError:
            reply = {
                "error": "ResourceLimitError",
                "message": f"{request['path']} needs more memory than a decode may use ({memory:,} bytes)",
            }
        except Exception as exc:  # the decoder's own failure on a hostile file
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            reply = {
                "error": "CorruptFrameError",
                "message": f"{request['path']} cannot be decoded ({reason})",
            }
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    _serve()
