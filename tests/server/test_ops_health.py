"""Liveness and readiness: `""` answers while the process is up; `stylelock.v1.StyleLock` is SERVING
only while every registered model can be loaded as it is on disk and the server is not draining, and
says why not (docs/server.md, "Health, liveness and readiness")."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
import tiny_models as tm
from grpc_fixtures import serve
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stylelock.server.config import ServerConfig
from stylelock.server.models import model_library, model_problems

READY = "stylelock.v1.StyleLock"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
UNET_WEIGHTS = Path("unet") / "diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def sd(tmp_path_factory) -> Path:
    """A tiny SD folder and a ControlNet for it, built once (copied where a test breaks one)."""
    root = tmp_path_factory.mktemp("models")
    tm.build_sd(root / "sd")
    tm.build_controlnet(root / "cn", root / "sd")
    return root


def _copy(sd: Path, tmp_path: Path, name: str = "sd") -> Path:
    return Path(shutil.copytree(sd / name, tmp_path / name))


def _status(address: str, service: str) -> int:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    return reply.status


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_server_whose_models_load_is_ready_and_alive(sd: Path) -> None:
    settings = {"models": (f"sd15={sd / 'sd'}",), "controlnets": (f"depth={sd / 'cn'}",)}
    with serve(metrics_listen="127.0.0.1:0", **settings) as (server, address):
        assert _status(address, "") == SERVING
        assert _status(address, READY) == SERVING
        assert server.health.ready and server.health.reason == ""
        assert _get(f"http://{server.metrics_address}/ready") == (200, "ready\n")
        assert _get(f"http://{server.metrics_address}/live") == (200, "live\n")


def test_a_model_with_weights_missing_keeps_the_server_not_ready_but_alive_and_says_why(
    sd: Path, tmp_path: Path
) -> None:
    model = _copy(sd, tmp_path)
    kept = tmp_path / "kept.safetensors"
    shutil.move(model / UNET_WEIGHTS, kept)
    with serve(models=(f"sd15={model}",), metrics_listen="127.0.0.1:0") as (server, address):
        assert _status(address, "") == SERVING  # liveness: the process answers
        assert _status(address, READY) == NOT_SERVING
        reason = server.health.reason
        assert reason == f"model sd15 ({model}): unet/config.json has no weights beside it"
        status, body = _get(f"http://{server.metrics_address}/ready")
        assert (status, body) == (503, f"not ready: {reason}\n")
        assert _get(f"http://{server.metrics_address}/live")[0] == 200
        # Put back, the next check (every RECHECK_S; called here) makes the server ready.
        shutil.move(kept, model / UNET_WEIGHTS)
        assert server.health.recheck() is True
        assert _status(address, READY) == SERVING
        assert _get(f"http://{server.metrics_address}/ready")[0] == 200


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("truncate", "unet/diffusion_pytorch_model.safetensors is cut short ("),
        ("garble", "unet/diffusion_pytorch_model.safetensors is not a safetensors file"),
        ("drop_vae", "its vae/ folder is missing (model_index.json names it)"),
        ("bad_index", "model_index.json is not valid JSON"),
    ],
)
def test_what_a_model_folder_lacks_is_named(sd: Path, tmp_path: Path, damage: str, reason: str) -> None:
    model = _copy(sd, tmp_path)
    weights = model / UNET_WEIGHTS
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garble":
        weights.write_bytes(b"\xff" * 64 + weights.read_bytes()[64:])
    elif damage == "drop_vae":
        shutil.rmtree(model / "vae")
    else:
        (model / "model_index.json").write_text("{not json")
    library = model_library(ServerConfig(models=(f"sd15={model}",)))
    problems = model_problems(library)
    assert len(problems) == 1 and problems[0].startswith(f"model sd15 ({model}): {reason}"), problems
    with serve(models=(f"sd15={model}",)) as (server, address):
        assert _status(address, READY) == NOT_SERVING and _status(address, "") == SERVING
        assert server.health.reason == problems[0]


def test_a_controlnet_without_weights_and_a_cut_checkpoint_are_not_loadable(sd: Path, tmp_path: Path) -> None:
    controlnet = _copy(sd, tmp_path, "cn")
    (controlnet / "diffusion_pytorch_model.safetensors").unlink()
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes((sd / "sd" / UNET_WEIGHTS).read_bytes()[:1000])
    library = model_library(
        ServerConfig(models=(f"sd15={sd / 'sd'}", f"flat={checkpoint}"), controlnets=(f"depth={controlnet}",))
    )
    problems = model_problems(library)
    assert problems == [
        f"model flat ({checkpoint}): is cut short (1,000 bytes; its header alone takes 22,768)",
        f"ControlNet depth ({controlnet}): config.json has no weights beside it",
    ]


def test_draining_turns_readiness_off_for_good_while_liveness_answers() -> None:
    with serve(metrics_listen="127.0.0.1:0") as (server, address):
        assert _status(address, READY) == SERVING
        server.health.enter_graceful_shutdown()  # what stop() and the SIGTERM drain do first
        assert _status(address, READY) == NOT_SERVING
        assert _status(address, "") == SERVING
        assert server.health.recheck() is False  # models being fine does not make it ready again
        assert _status(address, READY) == NOT_SERVING
        assert _get(f"http://{server.metrics_address}/ready") == (
            503,
            "not ready: the server is shutting down\n",
        )


SERVE = "import sys; from stylelock.server.cli import main; sys.exit(main(sys.argv[1:]))"


def _notifications(sock: socket.socket, until: str) -> list[str]:
    received: list[str] = []
    while not any(until in message for message in received):
        received.append(sock.recv(4096).decode())
    return received


@pytest.mark.parametrize("broken", [False, True])
def test_serve_tells_systemd_it_is_ready_only_when_its_models_load(
    sd: Path, tmp_path: Path, broken: bool
) -> None:
    """A `Type=notify` unit: READY=1 once the models load, the reason as the status when they do not
    (the unit stays 'activating'), STOPPING=1 on SIGTERM."""
    model = _copy(sd, tmp_path)
    if broken:
        (model / UNET_WEIGHTS).unlink()
    with tempfile.TemporaryDirectory(prefix="sl-", dir="/tmp") as short:
        path = os.path.join(short, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": path}
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--listen", "127.0.0.1:0", "--model", f"sd15={model}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            address = process.stdout.readline().split()[-1]
            first = _notifications(sock, "STATUS=")
            assert _status(address, "") == SERVING
            if broken:
                assert not any("READY=1" in m for m in first)
                assert (
                    first[-1]
                    == f"STATUS=not ready: model sd15 ({model}): unet/config.json has no weights beside it"
                )
                assert _status(address, READY) == NOT_SERVING
            else:
                assert first[-1] == "READY=1\nSTATUS=ready: taking jobs"
                assert _status(address, READY) == SERVING
            process.send_signal(signal.SIGTERM)
            assert _notifications(sock, "STOPPING=1")[-1].startswith("STOPPING=1\n")
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            sock.close()
    assert process.returncode == 0, err
    if broken:  # the reason is in the log as well
        assert f"WARNING stylelock.server.health: not ready: model sd15 ({model})" in err
