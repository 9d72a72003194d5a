"""Who may call: access tokens, TLS and mutual TLS, unix socket permissions, and jobs that belong to
the identity that submitted them (docs/security.md)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_fixtures import SlowEngine, register_engine, serve, tiny_plate
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stylelock.core.client import StyleLockClient
from stylelock.core.client.auth import TlsFiles
from stylelock.core.errors import AccessDeniedError, AuthenticationError, SpecError
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.server.app import create_server
from stylelock.server.auth import load_tokens
from stylelock.server.config import ServerConfig
from stylelock.v1 import stylelock_pb2 as pb
from stylelock.v1 import stylelock_pb2_grpc as pb_grpc

ALICE, BOB, ADMIN = "alice-token-0123456789", "bob-token-0123456789ab", "admin-token-0123456789"


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(f"# who may call\nalice {ALICE}\nbob {BOB}\nops {ADMIN} admin\n")
    path.chmod(0o600)
    return path


def _remote(tokens: Path | None = None, **settings) -> tuple:
    config = ServerConfig(allow_remote=True, tokens_file=str(tokens or ""), **settings)
    return create_server("0.0.0.0:0", config=config)


def test_a_remote_listener_needs_a_way_to_know_its_callers(tokens):
    with pytest.raises(SpecError, match="--allow-remote"):
        create_server("0.0.0.0:0", config=ServerConfig())
    with pytest.raises(SpecError, match="without authentication"):
        _remote()
    server, _ = _remote(tokens)
    server.stop(0)


def test_a_tokens_file_others_can_read_is_refused(tokens):
    tokens.chmod(0o644)
    with pytest.raises(SpecError, match="chmod 600"):
        load_tokens(tokens)
    tokens.chmod(0o600)
    tokens.write_text("alice short\n")
    with pytest.raises(SpecError, match="at least 16"):
        load_tokens(tokens)


def _every_method(channel: grpc.Channel, metadata: tuple) -> list:
    """One call of each method the server offers (StyleLock's, health), with `metadata`."""
    stub, health = pb_grpc.StyleLockStub(channel), health_pb2_grpc.HealthStub(channel)
    options = {"metadata": metadata, "timeout": 5}
    return [
        lambda: stub.GetServerInfo(pb.GetServerInfoRequest(), **options),
        lambda: stub.ListJobs(pb.ListJobsRequest(), **options),
        lambda: stub.SubmitJob(pb.SubmitJobRequest(spec_json="{}"), **options),
        lambda: stub.CancelJob(pb.CancelJobRequest(job_id="x"), **options),
        lambda: list(stub.WatchJob(pb.WatchJobRequest(job_id="x"), **options)),
        lambda: stub.UploadFrames(iter([pb.UploadChunk(job_id="x")]), **options),
        lambda: health.Check(health_pb2.HealthCheckRequest(), **options),
    ]


def test_without_a_valid_token_every_method_is_unauthenticated(tokens, tmp_path):
    server, address = _remote(tokens, allow_roots=(str(tmp_path),))
    server.start()
    local = "127.0.0.1:" + address.rsplit(":", 1)[1]
    try:
        for metadata in ((), (("authorization", "Bearer not-a-token-at-all"),), (("authorization", ALICE),)):
            with grpc.insecure_channel(local) as channel:
                for call in _every_method(channel, metadata):
                    with pytest.raises(grpc.RpcError) as failed:
                        call()
                    assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED, failed.value.details()
        with StyleLockClient(local, token="") as anonymous, pytest.raises(AuthenticationError, match="token"):
            anonymous.info()
        with StyleLockClient(local, token=ALICE) as alice:
            assert alice.info()["api_version"] == "v1" and alice.health() == "SERVING"
    finally:
        server.stop(0)


def test_jobs_belong_to_who_submitted_them(tokens, tmp_path, monkeypatch):
    register_engine(monkeypatch, SlowEngine)
    plate = tiny_plate(tmp_path / "plate", frames="1001-1004")
    server, address = _remote(tokens, allow_roots=(str(tmp_path),))
    server.start()
    local = "127.0.0.1:" + address.rsplit(":", 1)[1]
    spec = JobSpec(
        plate=plate,
        frames="1001-1004",
        engine=SlowEngine.name,
        params={"delay": 0.5},
        output=OutputSettings(str(tmp_path / "out" / "o.####.exr")),
    )
    try:
        with (
            StyleLockClient(local, token=ALICE) as alice,
            StyleLockClient(local, token=BOB) as bob,
            StyleLockClient(local, token=ADMIN) as ops,
        ):
            job = alice.submit(spec, idempotency_key="render-1")
            assert bob.submit(spec, idempotency_key="render-1") != job  # keys are each caller's own
            (seen,) = [j for j in bob.jobs() if j.job_id == job]
            assert seen.plate == "" and seen.output == "" and seen.state in ("queued", "running")
            (own,) = [j for j in alice.jobs() if j.job_id == job]
            assert own.plate == os.path.abspath(plate)
            with pytest.raises(AccessDeniedError, match="not yours"):
                bob.cancel(job)
            with pytest.raises(AccessDeniedError, match="not yours"):
                list(bob.watch(job))
            assert server.manager.get(job).state != "cancelled"
            assert ops.cancel(job) in ("cancelled", "running")  # an admin may
            assert [j.plate for j in ops.jobs(include_ended=True) if j.job_id == job] == [
                os.path.abspath(plate)
            ]
    finally:
        server.stop(0)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate for `alice`."""
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=StyleLock test CA", cwd=folder)  # fmt: skip
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extra in (("server", ["-extfile", "san.cnf"]), ("alice", [])):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=folder)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", *extra, cwd=folder)  # fmt: skip
    return folder


def test_tls_with_a_token_and_mutual_tls_by_certificate(pki, tokens, tmp_path):
    tls = {"tls_cert": str(pki / "server.pem"), "tls_key": str(pki / "server.key")}
    server, address = _remote(tokens, **tls)
    server.start()
    port = address.rsplit(":", 1)[1]
    try:
        with StyleLockClient(f"127.0.0.1:{port}", token=ALICE, tls=TlsFiles(str(pki / "ca.pem"))) as client:
            assert client.info()["api_version"] == "v1"
        with StyleLockClient(f"127.0.0.1:{port}", token=ALICE) as plain, pytest.raises(Exception):  # noqa: B017
            plain.info()  # a plaintext client gets no answer from a TLS server
    finally:
        server.stop(0)
    config = ServerConfig(allow_remote=True, tls_client_ca=str(pki / "ca.pem"), **tls)
    server, address = create_server("0.0.0.0:0", config=config)
    server.start()
    port = address.rsplit(":", 1)[1]
    try:
        mutual = TlsFiles(str(pki / "ca.pem"), str(pki / "alice.pem"), str(pki / "alice.key"))
        plate = tiny_plate(tmp_path / "plate", frames="1001")
        with StyleLockClient(f"127.0.0.1:{port}", tls=mutual) as alice:
            out = str(tmp_path / "o" / "o.####.exr")
            job = alice.submit(JobSpec(plate, "1001", "passthrough", output=OutputSettings(out)), inline=True)
            list(alice.watch(job))
            assert server.manager.get(job).owner == "alice"  # the certificate's common name
        nameless = StyleLockClient(f"127.0.0.1:{port}", tls=TlsFiles(str(pki / "ca.pem")))
        with nameless, pytest.raises(Exception):  # noqa: B017 - the handshake fails without a certificate
            nameless.info()
    finally:
        server.stop(0)


def test_a_unix_socket_is_only_for_the_servers_user():
    with serve("unix") as (_, address):
        path = address.split("unix://", 1)[1]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
