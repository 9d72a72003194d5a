"""GetServerInfo, health checking and reflection on a real server."""

from __future__ import annotations

from pathlib import Path

import grpc
from grpc_fixtures import serve
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from stylelock.core.client import StyleLockClient
from stylelock.server.engines import available_engines


def test_server_info_carries_typed_engine_schemas_device_colour_roots_and_limits(tmp_path: Path) -> None:
    with (
        serve("unix", allow_roots=[tmp_path], max_queue=9) as (_, address),
        StyleLockClient(address) as client,
    ):
        info = client.info()
    local = {name: cls.describe() for name, cls in available_engines().items()}
    assert {e["name"]: e for e in info["engines"]} == local  # every engine, every parameter, exactly
    by_name = {e["name"]: e for e in info["engines"]}
    assert by_name["keyframe"]["preview_params"] == {"mode": "styleblit"}  # hosts' Preview
    assert by_name["diffusion-image"]["preview_params"] == {"steps": 8}
    assert info["api_version"] == "v1" and info["server_version"]
    assert {"python", "grpcio", "numpy"} <= set(info["versions"])
    assert info["device"]["kind"] in ("cpu", "cuda") and info["device"]["name"]
    assert info["colour"]["config"] and info["colour"]["source"]
    assert info["allowed_roots"] == [str(tmp_path.resolve())]
    assert info["limits"]["max_queue"] == 9 and info["limits"]["chunk_bytes"] == 1024 * 1024


def test_health_and_reflection_are_on() -> None:
    with serve() as (server, address), grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "stylelock.v1.StyleLock"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert "stylelock.v1.StyleLock" in services and "grpc.health.v1.Health" in services
        server.health.enter_graceful_shutdown()  # shutting down: not ready, yet alive until it is gone
        reply = health.Check(health_pb2.HealthCheckRequest(service="stylelock.v1.StyleLock"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
