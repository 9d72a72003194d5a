from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_UPLOADING: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_FINISHED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_QUEUED: _ClassVar[EventKind]
    EVENT_KIND_STARTED: _ClassVar[EventKind]
    EVENT_KIND_FRAME_STARTED: _ClassVar[EventKind]
    EVENT_KIND_FRAME_DONE: _ClassVar[EventKind]
    EVENT_KIND_WARNING: _ClassVar[EventKind]
    EVENT_KIND_ERROR: _ClassVar[EventKind]
    EVENT_KIND_FINISHED: _ClassVar[EventKind]
    EVENT_KIND_CANCELLED: _ClassVar[EventKind]
    EVENT_KIND_FRAME_CHUNK: _ClassVar[EventKind]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_UPLOADING: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_FINISHED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_QUEUED: EventKind
EVENT_KIND_STARTED: EventKind
EVENT_KIND_FRAME_STARTED: EventKind
EVENT_KIND_FRAME_DONE: EventKind
EVENT_KIND_WARNING: EventKind
EVENT_KIND_ERROR: EventKind
EVENT_KIND_FINISHED: EventKind
EVENT_KIND_CANCELLED: EventKind
EVENT_KIND_FRAME_CHUNK: EventKind

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ParamSpec(_message.Message):
    __slots__ = ("name", "type", "float_default", "int_default", "bool_default", "string_default", "help", "minimum", "maximum", "choices", "advanced")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    INT_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    BOOL_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    STRING_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    HELP_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    ADVANCED_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    float_default: float
    int_default: int
    bool_default: bool
    string_default: str
    help: str
    minimum: float
    maximum: float
    choices: _containers.RepeatedScalarFieldContainer[str]
    advanced: bool
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., float_default: _Optional[float] = ..., int_default: _Optional[int] = ..., bool_default: _Optional[bool] = ..., string_default: _Optional[str] = ..., help: _Optional[str] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., choices: _Optional[_Iterable[str]] = ..., advanced: _Optional[bool] = ...) -> None: ...

class EngineInfo(_message.Message):
    __slots__ = ("name", "summary", "needs_style", "warmup_frames", "params", "preview_params", "temporal")
    class PreviewParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    NEEDS_STYLE_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FRAMES_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_PARAMS_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    summary: str
    needs_style: bool
    warmup_frames: int
    params: _containers.RepeatedCompositeFieldContainer[ParamSpec]
    preview_params: _containers.ScalarMap[str, str]
    temporal: str
    def __init__(self, name: _Optional[str] = ..., summary: _Optional[str] = ..., needs_style: _Optional[bool] = ..., warmup_frames: _Optional[int] = ..., params: _Optional[_Iterable[_Union[ParamSpec, _Mapping]]] = ..., preview_params: _Optional[_Mapping[str, str]] = ..., temporal: _Optional[str] = ...) -> None: ...

class DeviceInfo(_message.Message):
    __slots__ = ("kind", "name", "memory_bytes")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    memory_bytes: int
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class ColourConfigInfo(_message.Message):
    __slots__ = ("config", "name", "source", "description")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    config: str
    name: str
    source: str
    description: str
    def __init__(self, config: _Optional[str] = ..., name: _Optional[str] = ..., source: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_queue", "max_active_jobs", "max_frame_bytes", "max_upload_bytes", "max_message_bytes", "chunk_bytes")
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_ACTIVE_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAME_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_UPLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_queue: int
    max_active_jobs: int
    max_frame_bytes: int
    max_upload_bytes: int
    max_message_bytes: int
    chunk_bytes: int
    def __init__(self, max_queue: _Optional[int] = ..., max_active_jobs: _Optional[int] = ..., max_frame_bytes: _Optional[int] = ..., max_upload_bytes: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., chunk_bytes: _Optional[int] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("server_version", "api_version", "versions", "engines", "device", "colour", "allowed_roots", "limits", "models")
    class VersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ROOTS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    api_version: str
    versions: _containers.ScalarMap[str, str]
    engines: _containers.RepeatedCompositeFieldContainer[EngineInfo]
    device: DeviceInfo
    colour: ColourConfigInfo
    allowed_roots: _containers.RepeatedScalarFieldContainer[str]
    limits: Limits
    models: _containers.RepeatedCompositeFieldContainer[ModelEntry]
    def __init__(self, server_version: _Optional[str] = ..., api_version: _Optional[str] = ..., versions: _Optional[_Mapping[str, str]] = ..., engines: _Optional[_Iterable[_Union[EngineInfo, _Mapping]]] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ..., colour: _Optional[_Union[ColourConfigInfo, _Mapping]] = ..., allowed_roots: _Optional[_Iterable[str]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., models: _Optional[_Iterable[_Union[ModelEntry, _Mapping]]] = ...) -> None: ...

class ModelEntry(_message.Message):
    __slots__ = ("kind", "name", "path")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    path: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("spec_json", "idempotency_key", "inline", "plate_frames")
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    INLINE_FIELD_NUMBER: _ClassVar[int]
    PLATE_FRAMES_FIELD_NUMBER: _ClassVar[int]
    spec_json: str
    idempotency_key: str
    inline: bool
    plate_frames: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, spec_json: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., inline: _Optional[bool] = ..., plate_frames: _Optional[_Iterable[int]] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job_id", "state", "existing", "position", "upload_frames", "upload_styles")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXISTING_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FRAMES_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_STYLES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    existing: bool
    position: int
    upload_frames: _containers.RepeatedScalarFieldContainer[int]
    upload_styles: int
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., existing: _Optional[bool] = ..., position: _Optional[int] = ..., upload_frames: _Optional[_Iterable[int]] = ..., upload_styles: _Optional[int] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("job_id", "frame", "style_index", "chunk_index", "last", "data")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    STYLE_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    frame: int
    style_index: int
    chunk_index: int
    last: bool
    data: bytes
    def __init__(self, job_id: _Optional[str] = ..., frame: _Optional[int] = ..., style_index: _Optional[int] = ..., chunk_index: _Optional[int] = ..., last: _Optional[bool] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadFramesResponse(_message.Message):
    __slots__ = ("job_id", "state", "position", "bytes_received")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    position: int
    bytes_received: int
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., position: _Optional[int] = ..., bytes_received: _Optional[int] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "after_seq", "include_frames")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FRAMES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_seq: int
    include_frames: bool
    def __init__(self, job_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., include_frames: _Optional[bool] = ...) -> None: ...

class FrameChunk(_message.Message):
    __slots__ = ("frame", "chunk_index", "last", "data")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    frame: int
    chunk_index: int
    last: bool
    data: bytes
    def __init__(self, frame: _Optional[int] = ..., chunk_index: _Optional[int] = ..., last: _Optional[bool] = ..., data: _Optional[bytes] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "seq", "kind", "frame", "timings", "message", "position", "code", "error_type", "path", "skipped", "frames", "chunk", "time", "seconds")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    seq: int
    kind: EventKind
    frame: int
    timings: _containers.ScalarMap[str, float]
    message: str
    position: int
    code: str
    error_type: str
    path: str
    skipped: bool
    frames: _containers.RepeatedScalarFieldContainer[int]
    chunk: FrameChunk
    time: float
    seconds: float
    def __init__(self, job_id: _Optional[str] = ..., seq: _Optional[int] = ..., kind: _Optional[_Union[EventKind, str]] = ..., frame: _Optional[int] = ..., timings: _Optional[_Mapping[str, float]] = ..., message: _Optional[str] = ..., position: _Optional[int] = ..., code: _Optional[str] = ..., error_type: _Optional[str] = ..., path: _Optional[str] = ..., skipped: _Optional[bool] = ..., frames: _Optional[_Iterable[int]] = ..., chunk: _Optional[_Union[FrameChunk, _Mapping]] = ..., time: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job_id", "state")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("include_ended",)
    INCLUDE_ENDED_FIELD_NUMBER: _ClassVar[int]
    include_ended: bool
    def __init__(self, include_ended: _Optional[bool] = ...) -> None: ...

class JobInfo(_message.Message):
    __slots__ = ("job_id", "state", "engine", "plate", "inline", "frames_total", "frames_done", "position", "created", "started", "ended", "message", "idempotency_key", "output", "frames")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    PLATE_FIELD_NUMBER: _ClassVar[int]
    INLINE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DONE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    engine: str
    plate: str
    inline: bool
    frames_total: int
    frames_done: int
    position: int
    created: float
    started: float
    ended: float
    message: str
    idempotency_key: str
    output: str
    frames: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., engine: _Optional[str] = ..., plate: _Optional[str] = ..., inline: _Optional[bool] = ..., frames_total: _Optional[int] = ..., frames_done: _Optional[int] = ..., position: _Optional[int] = ..., created: _Optional[float] = ..., started: _Optional[float] = ..., ended: _Optional[float] = ..., message: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., output: _Optional[str] = ..., frames: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobInfo]
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobInfo, _Mapping]]] = ...) -> None: ...
