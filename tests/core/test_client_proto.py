"""Events, job listings, parameter schemas and errors read back exactly as they were written."""

from __future__ import annotations

import pytest

from stylelock.core import errors
from stylelock.core.client.convert import (
    engine_from_proto,
    engine_to_proto,
    event_from_proto,
    event_to_proto,
    job_info_from_proto,
    job_info_to_proto,
)
from stylelock.core.client.errors import (
    ServerInternalError,
    UnknownJobError,
    error_class,
    make_error,
    status_of,
)
from stylelock.core.client.events import EVENT_KINDS, JobEvent, JobInfo
from stylelock.core.params import ParamSchema, ParamSpec
from stylelock.v1 import stylelock_pb2 as pb


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_events_round_trip_through_the_proto(kind: str) -> None:
    event = JobEvent(
        kind,
        job_id="abc",
        seq=7,
        frame=-3 if kind != "queued" else None,
        seconds=0.25,
        timings={"engine": 0.2, "write": 0.05},
        message="héllo",
        position=2 if kind == "queued" else None,
        code="NOT_FOUND" if kind == "error" else "",
        error_type="FramesMissingError" if kind == "error" else "",
        path="/x/y.0001.exr",
        skipped=kind == "frame_done",
        frames=(1, 2, 3),
        time=1234.5,
    )
    wire = pb.JobEvent.FromString(event_to_proto(event).SerializeToString())
    assert event_from_proto(wire) == event


def test_unset_optional_event_fields_stay_unset() -> None:
    back = event_from_proto(event_to_proto(JobEvent("started", frame=0, position=0)))
    assert back.frame == 0 and back.position == 0
    back = event_from_proto(event_to_proto(JobEvent("started")))
    assert back.frame is None and back.position is None
    with pytest.raises(ValueError, match="unknown job event kind"):
        JobEvent("exploded")


def test_job_infos_round_trip() -> None:
    for info in (
        JobInfo("j1", "queued", "passthrough", "/p.####.exr", True, 10, 0, 3, 1.5, None, None, "", "key"),
        JobInfo("j2", "failed", "keyframe", "/q.####.exr", False, 4, 2, None, 1.0, 2.0, 3.0, "boom", ""),
        JobInfo("j3", "finished", "keyframe", "/q.####.exr", output="/o/o.####.exr", frames="1001-1004"),
    ):
        assert job_info_from_proto(pb.JobInfo.FromString(job_info_to_proto(info).SerializeToString())) == info


def test_parameter_schemas_keep_their_types() -> None:
    schema = ParamSchema(
        (
            ParamSpec("strength", "float", 0.5, "how much", minimum=0.0, maximum=1.0),
            ParamSpec("steps", "int", 20, "steps", minimum=1),
            ParamSpec("shared", "bool", False, "shared noise", advanced=True),
            ParamSpec("mode", "enum", "fast", "speed", choices=("fast", "best")),
            ParamSpec("model", "path", "", "weights"),
            ParamSpec("prompt", "string", None, "text"),
        )
    )
    description = {
        "name": "e",
        "summary": "s",
        "needs_style": True,
        "warmup_frames": 2,
        "params": schema.to_list(),
        "preview_params": {"mode": "fast", "steps": 4, "shared": True, "strength": 0.25},
        "temporal": "keyframes",
    }
    back = engine_from_proto(pb.EngineInfo.FromString(engine_to_proto(description).SerializeToString()))
    assert back == description
    assert type(back["params"][0]["default"]) is float and type(back["params"][1]["default"]) is int
    assert back["params"][2]["default"] is False
    assert type(back["preview_params"]["steps"]) is int and back["preview_params"]["shared"] is True


def test_every_error_class_maps_to_its_status_and_back() -> None:
    classes = [
        v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, errors.StyleLockError)
    ]
    for cls in [*classes, UnknownJobError]:
        code, message, name = status_of(cls("the message"))
        assert (code, message) == (cls.grpc_status, "the message")
        rebuilt = make_error(code, message, name)
        assert type(rebuilt) is cls and rebuilt.message == "the message"
    assert error_class("PERMISSION_DENIED") is errors.PathNotAllowedError
    assert error_class("NOT_FOUND", "NoSuchClass") is errors.FramesMissingError
    assert error_class("WHATEVER") is ServerInternalError
    code, message, name = status_of(KeyError("x"))
    assert code == "INTERNAL" and "KeyError" in message and name == "ServerInternalError"
