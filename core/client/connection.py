"""A connection to one StyleLock server: queries, submit (shared paths or inline upload), watch."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc

from stylelock.core.client import events as kinds
from stylelock.core.client.auth import TlsFiles, token_from_env, with_token
from stylelock.core.client.convert import (
    event_from_proto,
    job_info_from_proto,
    server_info_from_proto,
    state_from_proto,
)
from stylelock.core.client.errors import ERROR_TYPE_KEY, error_from_rpc
from stylelock.core.client.events import JobEvent, JobInfo
from stylelock.core.client.transfer import CHUNK_BYTES, FrameWriter, file_chunks
from stylelock.core.errors import (
    FramesMissingError,
    JobCancelledError,
    OutputError,
    SpecError,
    StyleLockError,
)
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.core.paths import names_files
from stylelock.core.sequence import FramePattern, resolve_plate
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc

__all__ = ["JobEvent", "JobInfo", "StyleLockClient"]

log = logging.getLogger(__name__)

#: Message size limits of the client's channel (a chunk is 1 MiB; server info can be large).
MAX_SEND_BYTES = 4 * 1024 * 1024
MAX_RECEIVE_BYTES = 16 * 1024 * 1024
#: A submit that fails for want of a connection is retried this often, with the same idempotency key.
SUBMIT_ATTEMPTS = 3


class StyleLockClient:
    """A connection to one StyleLock server (`host:port` or `unix:///path.sock`).

    `timeout` bounds every call except the long ones (uploads and watching a job). `token` (default
    `$STYLELOCK_TOKEN`) goes with every call as `authorization: Bearer <token>` metadata; `tls`
    (default from `$STYLELOCK_TLS_CA`, ...) makes the connection TLS (`auth`).
    """

    def __init__(
        self, address: str, *, timeout: float = 10.0, token: str | None = None, tls: TlsFiles | None = None
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.chunk_bytes = CHUNK_BYTES
        tls = tls or TlsFiles.from_env()
        options = [
            ("grpc.max_send_message_length", MAX_SEND_BYTES),
            ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
        ]
        if tls is not None:
            channel = grpc.secure_channel(address, tls.credentials(), options=[*options, *tls.options()])
        else:
            channel = grpc.insecure_channel(address, options=options)
        self._channel = with_token(channel, token_from_env(token))
        self._stub = pb_grpc.StyleLockStub(self._channel)
        self._outputs: dict[str, str] = {}

    # -- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> StyleLockClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: Any, request: Any, timeout: float | None = -1.0) -> Any:
        try:
            return method(request, timeout=self.timeout if timeout == -1.0 else timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.address) from None

    # -- queries ------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Engines (with parameter schemas), versions, device, colour config, allowed roots, limits."""
        return server_info_from_proto(self._call(self._stub.GetServerInfo, pb.GetServerInfoRequest()))

    def jobs(self, include_ended: bool = False) -> list[JobInfo]:
        reply = self._call(self._stub.ListJobs, pb.ListJobsRequest(include_ended=include_ended))
        return [job_info_from_proto(j) for j in reply.jobs]

    def health(self) -> str:
        """The standard gRPC health status of the server ("SERVING", "NOT_SERVING", ...)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self._channel)
        reply = self._call(stub.Check, health_pb2.HealthCheckRequest(service=""))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def cancel(self, job_id: str) -> str:
        """Ask the server to stop `job_id` after the frame in hand; returns the job's state."""
        reply = self._call(self._stub.CancelJob, pb.CancelJobRequest(job_id=job_id))
        return state_from_proto(reply.state)

    # -- submit -------------------------------------------------------------------------------------
    def submit(
        self,
        spec: JobSpec,
        *,
        inline: bool = False,
        idempotency_key: str | None = None,
        cancel: threading.Event | None = None,
    ) -> str:
        """Queue `spec` on the server and return the job id.

        Shared paths (`inline=False`): the spec's paths are made absolute and must name files the
        server can reach under its allowed roots. Inline: the plate frames the job reads (its own and
        those the engine's temporal contract needs, such as the keyframe before its first frame: the
        server says which, from the frames this machine has) and the style references are uploaded;
        `watch` then writes the finished frames to `spec.output.pattern` here. A retried submit (same
        `idempotency_key`) never duplicates work.
        """
        key = idempotency_key or uuid.uuid4().hex
        spec = _local_inline_spec(spec) if inline else _absolute_spec(spec)
        shot = FramePattern.parse(spec.plate).existing_frames() if inline else []
        request = pb.SubmitJobRequest(
            spec_json=spec.to_json(), idempotency_key=key, inline=inline, plate_frames=shot
        )
        reply = self._submit_with_retries(request)
        if inline:
            self._outputs[reply.job_id] = spec.output.pattern or ""
            if reply.state == pb.JOB_STATE_UPLOADING:
                self._upload(spec, reply, cancel)
        log.info("submitted job %s to %s", reply.job_id, self.address)
        return reply.job_id

    def _submit_with_retries(self, request: pb.SubmitJobRequest) -> pb.SubmitJobResponse:
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                return self._stub.SubmitJob(request, timeout=self.timeout)
            except grpc.RpcError as exc:
                transient = exc.code() == grpc.StatusCode.UNAVAILABLE and not any(
                    key == ERROR_TYPE_KEY for key, _ in exc.trailing_metadata() or ()
                )
                if not transient or attempt == SUBMIT_ATTEMPTS:
                    raise error_from_rpc(exc, self.address) from None
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def _upload(self, spec: JobSpec, reply: pb.SubmitJobResponse, cancel: threading.Event | None) -> None:
        plate = FramePattern.parse(spec.plate)
        stopped = threading.Event()

        def chunks() -> Iterator[pb.UploadChunk]:
            files: list[tuple[dict[str, int], str]] = [
                ({"frame": f}, plate.path(f)) for f in reply.upload_frames
            ]
            files += [({"style_index": i}, spec.styles[i].path) for i in range(reply.upload_styles)]
            for target, path in files:
                for index, last, data in file_chunks(path, self.chunk_bytes):
                    if cancel is not None and cancel.is_set():
                        stopped.set()
                        quiet_cancel(self, reply.job_id)
                        return  # the server drops a job whose upload ends short
                    yield pb.UploadChunk(
                        job_id=reply.job_id, chunk_index=index, last=last, data=data, **target
                    )

        try:
            self._stub.UploadFrames(chunks())
        except grpc.RpcError as exc:
            if stopped.is_set():
                raise JobCancelledError(f"job {reply.job_id} cancelled during its upload") from None
            raise error_from_rpc(exc, self.address) from None

    # -- watch --------------------------------------------------------------------------------------
    def watch(
        self, job_id: str, *, after_seq: int = 0, output_pattern: str | None = None
    ) -> Iterator[JobEvent]:
        """The job's events until it ends (a replay first, then live).

        For an inline job submitted by this client (or when `output_pattern` is given) the finished
        frames stream back and are written atomically to that pattern before their `frame_done`
        event is yielded, whose `path` then names the local file.
        """
        pattern = output_pattern or self._outputs.get(job_id)
        request = pb.WatchJobRequest(job_id=job_id, after_seq=after_seq, include_frames=bool(pattern))
        writer = FrameWriter(pattern) if pattern else None
        stream = self._stub.WatchJob(request)
        try:
            for message in stream:
                if message.kind == pb.EVENT_KIND_FRAME_CHUNK:
                    if writer is not None:
                        chunk = message.chunk
                        writer.add(chunk.frame, chunk.chunk_index, chunk.last, chunk.data)
                    continue
                event = event_from_proto(message)
                if writer is not None and event.kind == kinds.FRAME_DONE and event.frame is not None:
                    event = dataclasses.replace(event, path=writer.path(event.frame))
                yield event
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.address) from None
        finally:
            stream.cancel()
            if writer is not None:
                writer.abort()


def _absolute_spec(spec: JobSpec) -> JobSpec:
    """Shared paths travel as absolute paths (a relative one means nothing on the server)."""
    styles = tuple(StyleReference(os.path.abspath(s.path), s.frame) for s in spec.styles)
    output = spec.output
    if output.pattern:
        output = dataclasses.replace(output, pattern=os.path.abspath(output.pattern))
    changes: dict[str, Any] = {"plate": os.path.abspath(spec.plate), "styles": styles, "output": output}
    if spec.mask and names_files(spec.mask):
        changes["mask"] = os.path.abspath(spec.mask)
    guides = spec.guides.items()
    changes["guides"] = {name: os.path.abspath(s) if names_files(s) else s for name, s in guides}
    config = spec.colour.config
    if config and not config.startswith("ocio://"):
        changes["colour"] = dataclasses.replace(spec.colour, config=os.path.abspath(config))
    return spec.with_changes(**changes)


def _local_inline_spec(spec: JobSpec) -> JobSpec:
    """Check what an inline job uploads and writes here, before any byte travels."""
    if not spec.output.pattern:
        raise SpecError("an inline job needs an output pattern: where the returned frames are written")
    resolve_plate(spec.plate, spec.frames)  # FramesMissingError names what is missing
    for style in spec.styles:
        if not os.path.isfile(style.path):
            raise FramesMissingError(f"style reference {style.path} does not exist")
    output = FramePattern.parse(os.path.abspath(spec.output.pattern))
    folder = output.dirname or "."
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"output folder {folder} cannot be created: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable")
    return spec.with_changes(
        output=OutputSettings(output.pattern, spec.output.compression, spec.output.resume)
    )


def quiet_cancel(client: StyleLockClient, job_id: str) -> None:
    try:
        client.cancel(job_id)
    except StyleLockError as exc:  # the job may already have ended, or the server gone
        log.info("cancel of job %s: %s", job_id, exc)
