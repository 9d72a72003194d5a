"""The gRPC servicer: proto <-> domain translation only, and the one error boundary.

Every RPC of `stylelock.v1.StyleLock` passes through `ErrorMappingInterceptor`: a `StyleLockError`
raised anywhere below leaves as the status its class names (`grpc_status`), with its message as the
details and its class name in the trailing metadata, so clients raise the same error. Anything else
is logged with its traceback and answered INTERNAL; the server itself never goes down for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from stylelock.core import __version__
from stylelock.core.client import events as kinds
from stylelock.core.client.convert import engine_to_proto, event_to_proto, job_info_to_proto, state_to_proto
from stylelock.core.client.errors import ERROR_TYPE_KEY, status_of
from stylelock.core.client.transfer import file_chunks
from stylelock.core.errors import OutputError, StyleLockError
from stylelock.server import logs
from stylelock.server.auth import LOCAL, Authenticator, Identity
from stylelock.server.config import ServerConfig
from stylelock.server.jobs import JobManager
from stylelock.server.streams import StreamSlots
from stylelock.server.transport import UploadPiece
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["StyleLock"].full_name
API_VERSION = "v1"


class UploadBrokenError(StyleLockError):
    """The client went away in the middle of an upload."""

    exit_code = 9
    grpc_status = "CANCELLED"


class StyleLockServicer(pb_grpc.StyleLockServicer):
    def __init__(
        self,
        manager: JobManager,
        config: ServerConfig,
        models: dict[str, dict[str, str]],
        auth: Authenticator | None = None,
        slots: StreamSlots | None = None,
    ) -> None:
        self.manager = manager
        self.auth = auth or Authenticator()
        self.slots = slots or StreamSlots(1_000_000, 1_000_000)
        self.config = config
        self.models = models
        """kind -> name -> path of the models offered, described once when the server was built."""
        self._info: pb.ServerInfo | None = None
        self._info_lock = threading.Lock()

    def GetServerInfo(self, request: pb.GetServerInfoRequest, context: grpc.ServicerContext) -> pb.ServerInfo:
        with self._info_lock:  # device detection imports torch: once per server
            if self._info is None:
                self._info = self._build_info()
            return self._info

    def _build_info(self) -> pb.ServerInfo:
        from stylelock.server.info import server_info

        info = server_info(None)
        device, colour, config = info.get("device", {}), info.get("colour", {}), self.config
        return pb.ServerInfo(
            server_version=__version__,
            api_version=API_VERSION,
            versions={k: str(v) for k, v in info.get("versions", {}).items()},
            engines=[engine_to_proto(e) for e in info.get("engines", [])],
            device=pb.DeviceInfo(
                kind=str(device.get("kind", "cpu")),
                name=str(device.get("name", "cpu")),
                memory_bytes=int(device.get("memory_bytes") or 0),
            ),
            colour=pb.ColourConfigInfo(
                config=str(colour.get("config") or ""),
                name=str(colour.get("config") or ""),
                source=str(colour.get("source") or ""),
                description=str(colour.get("description") or ""),
            ),
            allowed_roots=list(self.manager.roots.roots),
            models=[
                pb.ModelEntry(kind=kind, name=name, path=path)
                for kind, names in self.models.items()
                for name, path in names.items()
            ],
            limits=pb.Limits(
                max_queue=config.max_queue,
                max_active_jobs=config.max_active_jobs,
                max_frame_bytes=config.max_frame_bytes,
                max_upload_bytes=config.max_upload_bytes,
                max_message_bytes=config.max_message_bytes,
                chunk_bytes=config.chunk_bytes,
            ),
        )

    def SubmitJob(self, request: pb.SubmitJobRequest, context: grpc.ServicerContext) -> pb.SubmitJobResponse:
        owner = self.auth.identify(context).name
        job, existing = self.manager.submit(
            request.spec_json,
            key=request.idempotency_key,
            inline=request.inline,
            owner=owner,
            shot_frames=list(request.plate_frames),
        )
        waiting_upload = job.state == kinds.UPLOADING
        return pb.SubmitJobResponse(
            job_id=job.job_id,
            state=state_to_proto(job.state),
            existing=existing,
            position=-1 if job.position is None else job.position,
            upload_frames=job.spool.frames if waiting_upload and job.spool is not None else [],
            upload_styles=len(job.spec.styles) if waiting_upload else 0,
        )

    def UploadFrames(
        self, request_iterator: Iterator[pb.UploadChunk], context: grpc.ServicerContext
    ) -> pb.UploadFramesResponse:
        caller = self.auth.identify(context)
        with self.slots.hold(_client_of(caller, context)):
            job = self.manager.receive_upload(
                _pieces(request_iterator), caller, abort_stream=lambda: context.cancel()
            )
        return pb.UploadFramesResponse(
            job_id=job.job_id,
            state=state_to_proto(job.state),
            position=-1 if job.position is None else job.position,
            bytes_received=job.spool.bytes_received if job.spool else 0,
        )

    def WatchJob(self, request: pb.WatchJobRequest, context: grpc.ServicerContext) -> Iterator[pb.JobEvent]:
        viewer = self.auth.identify(context)
        job = self.manager.get(request.job_id, viewer)
        with self.slots.hold(_client_of(viewer, context)):
            yield from self._watch(job, request, context, viewer)

    def _watch(
        self, job: Any, request: pb.WatchJobRequest, context: grpc.ServicerContext, viewer: Identity
    ) -> Iterator[pb.JobEvent]:
        send_frames = request.include_frames and job.inline
        events = self.manager.watch(job.job_id, request.after_seq, is_active=context.is_active, viewer=viewer)
        for event in events:
            message = event_to_proto(event)
            if job.inline:
                message.path = ""  # a spool path means nothing to the client
            if send_frames and event.kind == kinds.FRAME_DONE:
                yield from self._frame_chunks(job.job_id, event)
            if event.terminal and send_frames:
                # Every frame went out before this last event (the client may close the stream
                # as soon as it has it, and this generator would not run again).
                self.manager.delivered(job.job_id)
            yield message

    def _frame_chunks(self, job_id: str, event: kinds.JobEvent) -> Iterator[pb.JobEvent]:
        try:
            chunks = file_chunks(event.path, self.config.chunk_bytes)
            for index, last, data in chunks:
                chunk = pb.FrameChunk(frame=event.frame, chunk_index=index, last=last, data=data)
                yield pb.JobEvent(
                    job_id=job_id, kind=pb.EVENT_KIND_FRAME_CHUNK, frame=event.frame, chunk=chunk
                )
        except FileNotFoundError:
            raise OutputError(
                f"frame {event.frame} of job {job_id} is no longer on the server (its spool was cleared)"
            ) from None

    def CancelJob(self, request: pb.CancelJobRequest, context: grpc.ServicerContext) -> pb.CancelJobResponse:
        job = self.manager.cancel(request.job_id, self.auth.identify(context))
        return pb.CancelJobResponse(job_id=job.job_id, state=state_to_proto(job.state))

    def ListJobs(self, request: pb.ListJobsRequest, context: grpc.ServicerContext) -> pb.ListJobsResponse:
        jobs = self.manager.jobs(include_ended=request.include_ended, viewer=self.auth.identify(context))
        return pb.ListJobsResponse(jobs=[job_info_to_proto(j) for j in jobs])


def _client_of(caller: Identity, context: grpc.ServicerContext) -> str:
    """Who a stream counts against: the authenticated caller, else the peer's host (its port aside,
    so many connections from one machine count together)."""
    if caller.name != LOCAL:
        return caller.name
    peer = context.peer() or "unknown"
    return peer.rsplit(":", 1)[0] if peer.startswith(("ipv4:", "ipv6:")) else peer


def _pieces(requests: Iterator[pb.UploadChunk]) -> Iterator[UploadPiece]:
    try:
        for request in requests:
            target = request.WhichOneof("target")
            yield UploadPiece(
                job_id=request.job_id,
                frame=request.frame if target == "frame" else None,
                style_index=request.style_index if target == "style_index" else None,
                chunk_index=request.chunk_index,
                last=request.last,
                data=request.data,
            )
    except grpc.RpcError:  # the client cancelled or its connection dropped
        raise UploadBrokenError("the client went away in the middle of the upload") from None


# -- the one error boundary ------------------------------------------------------------------------------
def _abort(context: grpc.ServicerContext, error: Exception) -> None:
    code, message, error_type = status_of(error)
    if not isinstance(error, StyleLockError):
        log.error("unexpected error in an RPC", exc_info=error)
    else:
        log.info("RPC failed with %s: %s", code, message)
    context.set_trailing_metadata(((ERROR_TYPE_KEY, error_type),))
    context.abort(getattr(grpc.StatusCode, code, grpc.StatusCode.INTERNAL), message)


def _wrap_unary(behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behaviour(request, context)
        except Exception as exc:
            _abort(context, exc)

    return call


def _wrap_stream(behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]]) -> Callable[..., Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behaviour(request, context)
        except Exception as exc:
            _abort(context, exc)

    return call


class ErrorMappingInterceptor(grpc.ServerInterceptor):
    """Applies the error table to every StyleLock RPC (health and reflection pass untouched)."""

    def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.startswith(f"/{SERVICE_NAME}/"):
            return handler
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_wrap_unary(handler.unary_unary))
        if handler.stream_unary is not None:
            return handler._replace(stream_unary=_wrap_unary(handler.stream_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_wrap_stream(handler.unary_stream))
        if handler.stream_stream is not None:
            return handler._replace(stream_stream=_wrap_stream(handler.stream_stream))
        return handler


class LogContextInterceptor(grpc.ServerInterceptor):
    """Lines logged while an RPC runs name its caller, and the job its request names (`job_id`); a
    submitted job is remembered with its owner (for lines about it logged outside RPCs)."""

    def __init__(self, identify: Callable[[grpc.ServicerContext], Any]) -> None:
        self.identify = identify

    def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.startswith("/stylelock."):
            return handler
        identify, submit = self.identify, details.method.endswith("/SubmitJob")

        def caller(context: grpc.ServicerContext) -> str | None:
            try:
                return str(identify(context).name)
            except Exception:  # an unknown caller: the auth interceptor answers it
                return None

        def unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                client = caller(context)
                with logs.job_logging(getattr(request, "job_id", None) or None, client):
                    response = behaviour(request, context)
                if submit and client:
                    logs.remember_owner(response.job_id, client)
                return response

            return call

        def stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                with logs.job_logging(getattr(request, "job_id", None) or None, caller(context)):
                    yield from behaviour(request, context)

            return call

        for kind, wrap in (
            ("unary_unary", unary),
            ("stream_unary", unary),
            ("unary_stream", stream),
            ("stream_stream", stream),
        ):
            behaviour = getattr(handler, kind)
            if behaviour is not None:
                return handler._replace(**{kind: wrap(behaviour)})
        return handler
