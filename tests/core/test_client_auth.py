"""The access token a host's preferences hold reaches the server as `authorization` metadata."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from stylelock.core.client import StyleLockClient
from stylelock.core.errors import StyleLockError
from stylelock.core.hosts.job import FAILED, RemoteJob
from stylelock.core.jobspec import JobSpec, OutputSettings


class _Recorder(grpc.GenericRpcHandler):
    """A real gRPC server that records each call's metadata and refuses the call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.seen = threading.Event()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        self.calls.append((details.method, dict(details.invocation_metadata)))
        self.seen.set()

        def refuse(request: bytes, context: grpc.ServicerContext) -> None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "recorded")

        return grpc.unary_unary_rpc_method_handler(refuse)


@pytest.fixture()
def recorder():
    handler = _Recorder()
    server = grpc.server(ThreadPoolExecutor(max_workers=2), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield handler, f"127.0.0.1:{port}"
    finally:
        server.stop(0)


def test_the_token_goes_with_every_call_and_none_without_it(recorder):
    handler, address = recorder
    with StyleLockClient(address, token="s3cret", timeout=5) as client, pytest.raises(StyleLockError):
        client.info()
    with StyleLockClient(address, timeout=5) as client, pytest.raises(StyleLockError):
        client.jobs()
    (info_method, with_token), (jobs_method, without) = handler.calls
    assert info_method.endswith("/GetServerInfo") and jobs_method.endswith("/ListJobs")
    assert with_token["authorization"] == "Bearer s3cret"
    assert "authorization" not in without


def test_a_host_job_sends_its_token(recorder, tmp_path):
    handler, address = recorder
    spec = JobSpec(
        plate=str(tmp_path / "plate.####.exr"),
        frames="1-2",
        engine="passthrough",
        output=OutputSettings(str(tmp_path / "out.####.exr")),
    )
    progress = RemoteJob(address, spec, token="t0ken").start().wait(20)
    assert progress.state == FAILED
    assert handler.calls[0][1]["authorization"] == "Bearer t0ken"
