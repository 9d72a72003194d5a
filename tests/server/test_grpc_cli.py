"""`stylelock serve`, `stylelock jobs` and `stylelock cancel`, run as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from grpc_fixtures import SlowEngine, register_engine, serve, tiny_plate, wait_for

from stylelock.core.client import StyleLockClient
from stylelock.core.errors import SpecError
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.server.cli import main
from stylelock.server.config import ServerConfig, load_config

SERVE = "import sys; from stylelock.server.cli import main; sys.exit(main(sys.argv[1:]))"


def _start_serve(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    assert line.startswith("stylelock server listening on "), line + process.stderr.read()
    return process, line.split()[-1]


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_serve_runs_until_sigterm_with_settings_from_a_config_file(tmp_path: Path, transport: str) -> None:
    config = tmp_path / "server.toml"
    config.write_text('allow_roots = ["shared"]\nmax_queue = 7\nmax_active_jobs = 3\n')
    (tmp_path / "shared").mkdir()
    with tempfile.TemporaryDirectory(prefix="sl-", dir="/tmp") as short:
        listen = "127.0.0.1:0" if transport == "tcp" else f"unix://{short}/s.sock"
        process, address = _start_serve("--listen", listen, "--config", str(config), "--max-queue", "5")
        try:
            with StyleLockClient(address) as client:
                info = client.info()
                assert client.health() == "SERVING"
            assert info["allowed_roots"] == [str((tmp_path / "shared").resolve())]
            assert info["limits"]["max_queue"] == 5  # the flag wins over the file
            assert info["limits"]["max_active_jobs"] == 3
            assert "passthrough" in [e["name"] for e in info["engines"]]
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopping" in out


def test_serve_listens_on_loopback_only_unless_told(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--listen", "0.0.0.0:0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_jobs_and_cancel_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    register_engine(monkeypatch, SlowEngine)
    plate = tiny_plate(tmp_path / "plate", frames="1-6", width=32, height=24)
    spec = JobSpec(
        plate=plate,
        frames="1-6",
        engine="test-slow",
        params={"delay": 0.2},
        output=OutputSettings(str(tmp_path / "out" / "o.####.exr")),
    )
    with serve(allow_roots=[tmp_path]) as (srv, address):
        assert main(["jobs", "--server", address]) == 0
        assert "no jobs" in capsys.readouterr().out
        with StyleLockClient(address) as client:
            job_id = client.submit(spec)
        wait_for(lambda: srv.manager.get(job_id).state == "running")
        assert main(["jobs", "--server", address]) == 0
        listing = capsys.readouterr().out
        assert job_id in listing and "running" in listing and "test-slow" in listing
        assert main(["cancel", job_id, "--server", address]) == 0
        assert "cancelling" in capsys.readouterr().out
        wait_for(lambda: srv.manager.get(job_id).state == "cancelled")
        assert main(["jobs", "--server", address, "--all", "--json"]) == 0
        assert '"state": "cancelled"' in capsys.readouterr().out
        assert main(["cancel", "nope", "--server", address]) == 2
        assert "no job 'nope'" in capsys.readouterr().err
    monkeypatch.setenv("STYLELOCK_SERVER", "127.0.0.1:1")
    assert main(["jobs"]) == 9
    assert "cannot reach the StyleLock server at 127.0.0.1:1" in capsys.readouterr().err


def test_config_files_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        'listen = "127.0.0.1:6000"\nallow_roots = ["a", "/abs"]\nspool_ttl_s = 5\nstate_dir = "state"\n'
    )
    config = load_config(good, max_queue=3, listen=None)
    assert config.listen == "127.0.0.1:6000" and config.max_queue == 3 and config.spool_ttl_s == 5.0
    assert config.allow_roots == (str(tmp_path / "a"), "/abs")
    assert config.state_dir == str(tmp_path / "state")  # relative to the file, as the roots
    for text, needle in (
        ("max_queue = 'many'", "whole number"),
        ("colour = 1", "unknown server setting 'colour'"),
        ("allow_roots = '/x'", "list of folders"),
        ("max_queue = [", "not valid TOML"),
        ("max_queue = 0", "at least 1"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(SpecError, match=needle):
            load_config(bad)
    with pytest.raises(SpecError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match="chunk_bytes"):
        ServerConfig(chunk_bytes=8 * 1024 * 1024)


def test_restyle_with_server_runs_the_job_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plate = tiny_plate(tmp_path / "plate", frames="1-2", width=32, height=24)
    with serve() as (srv, address):  # no roots: the client picks inline transport
        argv = [
            "restyle",
            plate,
            "--frames",
            "1-2",
            "--engine",
            "passthrough",
            "--out",
            str(tmp_path / "o.####.exr"),
        ]
        assert main([*argv, "--server", address]) == 0
        (job,) = srv.manager.jobs(include_ended=True)
    assert job.inline and job.state == "finished"
    assert sorted(p.name for p in tmp_path.glob("o.*.exr")) == ["o.0001.exr", "o.0002.exr"]
    assert "restyled 2 frames" in capsys.readouterr().out
