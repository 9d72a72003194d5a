"""The server's log, read from a real `stylelock serve`: INFO without -v, a UTC timestamp on every
line, the job and the client on every line about a job (from the RPC that concerns it, the job's
worker thread and the pipeline), text or one JSON object a line; the address line stays first."""

from __future__ import annotations

import datetime
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from grpc_fixtures import tiny_plate

from stylelock.core.client import StyleLockClient, run_remote
from stylelock.core.errors import UnknownJobError
from stylelock.core.jobspec import JobSpec, OutputSettings

SERVE = "import sys; from stylelock.server.cli import main; sys.exit(main(sys.argv[1:]))"
TOKEN = "alice-token-0123456789"
TEXT_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+)"
    r"(?: job=(\w+))?(?: client=([\w-]+))?: (.*)$"
)


def _serve_a_job(tmp_path: Path, *flags: str) -> tuple[str, str, str]:
    """Start `stylelock serve` (no -v), run one inline passthrough job as alice, make one failing
    call, stop it with SIGTERM; returns (stdout, stderr, job id)."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice {TOKEN}\n")
    tokens.chmod(0o600)
    plate = tiny_plate(tmp_path / "plate", frames="1001-1002")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVE,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tokens-file",
            str(tokens),
            "--state-dir",
            str(tmp_path / "state"),
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("stylelock server listening on "), first
        address = first.split()[-1]
        spec = JobSpec(
            plate=plate,
            frames="1001-1002",
            engine="passthrough",
            output=OutputSettings(pattern=str(tmp_path / "out" / "o.####.exr")),
        )
        jobs: list[str] = []
        run_remote(address, spec, inline=True, token=TOKEN, on_event=lambda e: jobs.append(e.job_id))
        with StyleLockClient(address, token=TOKEN) as client, pytest.raises(UnknownJobError):
            client.cancel("0123456789ab")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return first + out, err, jobs[0]


def test_text_log_lines_carry_time_job_and_client(tmp_path: Path) -> None:
    out, err, job = _serve_a_job(tmp_path)
    assert out.startswith("stylelock server listening on ")
    lines = err.splitlines()
    parsed = [TEXT_LINE.match(line) for line in lines]
    assert all(parsed), [line for line, match in zip(lines, parsed, strict=True) if not match]
    for match in parsed:
        moment = datetime.datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
        assert abs((datetime.datetime.now(datetime.timezone.utc) - moment).total_seconds()) < 600
    about_job = [m for m in parsed if job in m.group(6)]
    assert len(about_job) >= 2  # submitted, finished
    assert all(m.group(4) == job and m.group(5) == "alice" for m in about_job)
    # The engine starts in the job's worker thread, inside the pipeline: no RPC, no job id in the text.
    (engine,) = [m for m in parsed if m.group(6).startswith("starting engine passthrough")]
    assert (engine.group(4), engine.group(5)) == (job, "alice")
    # A failing call names its caller and the job it asked about.
    (failed,) = [m for m in parsed if m.group(6).startswith("RPC failed with NOT_FOUND")]
    assert (failed.group(4), failed.group(5)) == ("0123456789ab", "alice")
    # Lines about no job say none.
    (ready,) = [m for m in parsed if m.group(6) == "ready: taking jobs"]
    assert ready.group(4) is None and ready.group(5) is None


def test_json_log_lines(tmp_path: Path) -> None:
    _, err, job = _serve_a_job(tmp_path, "--log-json")
    entries = [json.loads(line) for line in err.splitlines()]
    assert entries and all(set(e) >= {"time", "level", "logger", "message", "job", "client"} for e in entries)
    for entry in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
        assert entry["level"] in ("DEBUG", "INFO", "WARNING", "ERROR")
    about_job = [e for e in entries if job in e["message"]]
    assert {e["logger"] for e in about_job} >= {"stylelock.server.jobs"}
    assert all(e["job"] == job and e["client"] == "alice" for e in about_job)
    (engine,) = [e for e in entries if e["message"].startswith("starting engine passthrough")]
    assert (engine["job"], engine["client"]) == (job, "alice")
    (bound,) = [e for e in entries if e["message"].startswith("StyleLock server bound to")]
    assert bound["job"] is None and bound["client"] is None and bound["level"] == "INFO"


def test_the_jobs_reader_and_writer_threads_log_in_its_context(monkeypatch, tmp_path: Path) -> None:
    """Lines logged by a job's reader thread (decoding) and writer thread (a frame on disk) name the
    job, though no RPC and no job id in their text says which."""
    import logging

    from stylelock.server import pipeline
    from stylelock.server.logs import ContextFilter

    seen: list[tuple[str, str]] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.threadName, record.job))

    handler = Recorder()
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("test.ops.threads")
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "level", logging.INFO)
    decode = pipeline.FrameCodec.decode_file

    def logged_decode(self, number, path):
        logger.info("decoding frame %d", number)
        return decode(self, number, path)

    class Observer(pipeline.JobObserver):
        def frame_done(self, job_id, result) -> None:
            logger.info("frame %d on disk", result.frame)

    monkeypatch.setattr(pipeline.FrameCodec, "decode_file", logged_decode)
    plate = tiny_plate(tmp_path / "plate", frames="1001-1002")
    spec = JobSpec(
        plate=plate,
        frames="1001-1002",
        engine="passthrough",
        output=OutputSettings(pattern=str(tmp_path / "out" / "o.####.exr")),
    )
    try:
        pipeline.run_job(spec, job_id="0a1b2c3d4e5f", observer=Observer())
    finally:
        logger.removeHandler(handler)
    threads = {name for name, _ in seen}
    assert "read-0a1b2c3d4e5f" in threads and any(t.startswith("write-0a1b2c3d4e5f") for t in threads)
    assert [job for _, job in seen] == ["0a1b2c3d4e5f"] * len(seen) and len(seen) >= 4
