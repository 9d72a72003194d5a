"""Conversions between the stylelock.v1 proto messages and core's plain types.

Both the server and the client use these, so an event or a parameter schema reads back exactly as
it was written. Nothing here imports anything heavier than protobuf.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stylelock.core.client.events import JobEvent, JobInfo
from stylelock.v1 import stylelock_pb2 as pb

_KIND_TO_PROTO = {
    "queued": pb.EVENT_KIND_QUEUED,
    "started": pb.EVENT_KIND_STARTED,
    "frame_started": pb.EVENT_KIND_FRAME_STARTED,
    "frame_done": pb.EVENT_KIND_FRAME_DONE,
    "warning": pb.EVENT_KIND_WARNING,
    "error": pb.EVENT_KIND_ERROR,
    "finished": pb.EVENT_KIND_FINISHED,
    "cancelled": pb.EVENT_KIND_CANCELLED,
}
_KIND_FROM_PROTO = {value: key for key, value in _KIND_TO_PROTO.items()}

_STATE_TO_PROTO = {
    "uploading": pb.JOB_STATE_UPLOADING,
    "queued": pb.JOB_STATE_QUEUED,
    "running": pb.JOB_STATE_RUNNING,
    "finished": pb.JOB_STATE_FINISHED,
    "failed": pb.JOB_STATE_FAILED,
    "cancelled": pb.JOB_STATE_CANCELLED,
}
_STATE_FROM_PROTO = {value: key for key, value in _STATE_TO_PROTO.items()}


def state_to_proto(state: str) -> int:
    return _STATE_TO_PROTO.get(state, pb.JOB_STATE_UNSPECIFIED)


def state_from_proto(value: int) -> str:
    return _STATE_FROM_PROTO.get(value, "unknown")


# -- events -----------------------------------------------------------------------------------------
def event_to_proto(event: JobEvent) -> pb.JobEvent:
    message = pb.JobEvent(
        job_id=event.job_id,
        seq=event.seq,
        kind=_KIND_TO_PROTO[event.kind],
        seconds=event.seconds,
        timings=dict(event.timings),
        message=event.message,
        code=event.code,
        error_type=event.error_type,
        path=event.path,
        skipped=event.skipped,
        frames=list(event.frames),
        time=event.time,
    )
    if event.frame is not None:
        message.frame = event.frame
    if event.position is not None:
        message.position = event.position
    return message


def event_from_proto(message: pb.JobEvent) -> JobEvent:
    return JobEvent(
        kind=_KIND_FROM_PROTO[message.kind],
        job_id=message.job_id,
        seq=message.seq,
        frame=message.frame if message.HasField("frame") else None,
        seconds=message.seconds,
        timings=dict(message.timings),
        message=message.message,
        position=message.position if message.HasField("position") else None,
        code=message.code,
        error_type=message.error_type,
        path=message.path,
        skipped=message.skipped,
        frames=tuple(message.frames),
        time=message.time,
    )


# -- jobs -------------------------------------------------------------------------------------------
def job_info_to_proto(info: JobInfo) -> pb.JobInfo:
    return pb.JobInfo(
        job_id=info.job_id,
        state=state_to_proto(info.state),
        engine=info.engine,
        plate=info.plate,
        inline=info.inline,
        frames_total=info.frames_total,
        frames_done=info.frames_done,
        position=-1 if info.position is None else info.position,
        created=info.created,
        started=info.started or 0.0,
        ended=info.ended or 0.0,
        message=info.message,
        idempotency_key=info.idempotency_key,
        output=info.output,
        frames=info.frames,
    )


def job_info_from_proto(message: pb.JobInfo) -> JobInfo:
    return JobInfo(
        job_id=message.job_id,
        state=state_from_proto(message.state),
        engine=message.engine,
        plate=message.plate,
        inline=message.inline,
        frames_total=message.frames_total,
        frames_done=message.frames_done,
        position=None if message.position < 0 else message.position,
        created=message.created,
        started=message.started or None,
        ended=message.ended or None,
        message=message.message,
        idempotency_key=message.idempotency_key,
        output=message.output,
        frames=message.frames,
    )


# -- parameter schemas and server info ----------------------------------------------------------------
def param_to_proto(param: Mapping[str, Any]) -> pb.ParamSpec:
    """A `ParamSpec.to_dict()` as its typed proto message."""
    message = pb.ParamSpec(
        name=param["name"],
        type=param["type"],
        help=param.get("help") or "",
        choices=list(param.get("choices") or ()),
        advanced=bool(param.get("advanced")),
    )
    if param.get("minimum") is not None:
        message.minimum = float(param["minimum"])
    if param.get("maximum") is not None:
        message.maximum = float(param["maximum"])
    default = param.get("default")
    if default is None:
        pass
    elif isinstance(default, bool):
        message.bool_default = default
    elif isinstance(default, int):
        message.int_default = default
    elif isinstance(default, float):
        message.float_default = default
    else:
        message.string_default = str(default)
    return message


def param_from_proto(message: pb.ParamSpec) -> dict[str, Any]:
    """The same dict `ParamSpec.to_dict()` makes."""
    which = message.WhichOneof("default")
    return {
        "name": message.name,
        "type": message.type,
        "default": getattr(message, which) if which else None,
        "help": message.help,
        "minimum": message.minimum if message.HasField("minimum") else None,
        "maximum": message.maximum if message.HasField("maximum") else None,
        "choices": list(message.choices),
        "advanced": message.advanced,
    }


def engine_to_proto(description: Mapping[str, Any]) -> pb.EngineInfo:
    """An `Engine.describe()` dict as its proto message."""
    return pb.EngineInfo(
        name=description["name"],
        summary=description.get("summary") or "",
        needs_style=bool(description.get("needs_style")),
        warmup_frames=int(description.get("warmup_frames") or 0),
        params=[param_to_proto(p) for p in description.get("params") or ()],
        preview_params={
            name: json.dumps(value) for name, value in (description.get("preview_params") or {}).items()
        },
        temporal=description.get("temporal") or "shot",
    )


def engine_from_proto(message: pb.EngineInfo) -> dict[str, Any]:
    return {
        "name": message.name,
        "summary": message.summary,
        "needs_style": message.needs_style,
        "warmup_frames": message.warmup_frames,
        "params": [param_from_proto(p) for p in message.params],
        "preview_params": {name: json.loads(value) for name, value in sorted(message.preview_params.items())},
        "temporal": message.temporal or "shot",
    }


def _models_from_proto(entries: Any) -> dict[str, dict[str, str]]:
    models: dict[str, dict[str, str]] = {}
    for entry in entries:
        models.setdefault(entry.kind, {})[entry.name] = entry.path
    return models


def server_info_from_proto(message: pb.ServerInfo) -> dict[str, Any]:
    """The server info as plain data, the form `StyleLockClient.info()` returns."""
    limits = message.limits
    return {
        "server_version": message.server_version,
        "api_version": message.api_version,
        "versions": dict(sorted(message.versions.items())),
        "engines": [engine_from_proto(e) for e in message.engines],
        "device": {
            "kind": message.device.kind,
            "name": message.device.name,
            "memory_bytes": message.device.memory_bytes,
        },
        "colour": {
            "config": message.colour.config,
            "name": message.colour.name,
            "source": message.colour.source,
            "description": message.colour.description,
        },
        "allowed_roots": list(message.allowed_roots),
        "models": _models_from_proto(message.models),
        "limits": {
            "max_queue": limits.max_queue,
            "max_active_jobs": limits.max_active_jobs,
            "max_frame_bytes": limits.max_frame_bytes,
            "max_upload_bytes": limits.max_upload_bytes,
            "max_message_bytes": limits.max_message_bytes,
            "chunk_bytes": limits.chunk_bytes,
        },
    }
