"""Benchmark: one job through the gRPC server against the same job in-process.

A 1080p half-float RGBA plate with AOVs (normals, depth, motion vectors) goes through the
`passthrough` engine four ways: in-process (`run_job`), and through a `stylelock serve` process
with inline transport over loopback TCP, inline over a unix socket, and shared paths over TCP.
Each repetition runs the four in turn (so load drifts hit them alike); the medians and their
ratios to in-process go to bench/results/transport.json. Target (DESIGN.md): server <= 1.10x.

    python bench/transport.py [--frames 12] [--runs 5] [--out bench/results/transport.json]

The timings are wall-clock seconds seen by the caller: for the server paths, from submit (which
includes the upload) until the last frame is on the local disk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
from provenance import stamp

from stylelock.core.client import StyleLockClient, run_remote
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.server.pipeline import run_job

WIDTH, HEIGHT = 1920, 1080
CHANNELS = ("R", "G", "B", "A", "N.X", "N.Y", "N.Z", "depth.Z", "forward.u", "forward.v")
SERVE = "import sys; from stylelock.server.cli import main; sys.exit(main(sys.argv[1:]))"
#: The code these numbers measure (bench/provenance.py): the modules that move a job's bytes between
#: client and server (chunked upload and download, spooling); the passthrough engine, the pipeline
#: and the RPCs at large run alike in every mode and are left out.
MEASURES = ("server/transport.py", "core/client/transfer.py", "bench/transport.py")


def write_plate(folder: Path, frames: int) -> str:
    """Half-float RGBA + AOVs (depth in float), ZIP compressed, with texture and grain."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    rng = np.random.default_rng(7)
    for index in range(frames):
        frame = 1001 + index
        shift = 12.0 * index
        base = 0.18 + 0.15 * np.sin((x + shift) / 97.0) * np.cos(y / 61.0)
        highlight = 40.0 * np.exp(-(((x - 1300 - shift) / 60.0) ** 2 + ((y - 300) / 40.0) ** 2))
        grain = rng.normal(0.0, 0.01, (3, HEIGHT, WIDTH)).astype(np.float32)
        planes = [
            base * 1.1 + highlight + grain[0],
            base * 0.9 + highlight + grain[1],
            base * 0.7 + 0.5 * highlight + grain[2],
            np.clip((x - 200 - shift) / 400.0, 0.0, 1.0),
            np.sin(x / 300.0),
            np.cos(y / 200.0),
            np.full_like(x, 0.5),
            10.0 + (x + y) / 100.0,
            np.full_like(x, 12.0),
            np.zeros_like(x),
        ]
        pixels = np.stack(planes, axis=-1)
        spec = oiio.ImageSpec(WIDTH, HEIGHT, len(CHANNELS), "half")
        spec.channelnames = CHANNELS
        spec.channelformats = [
            oiio.TypeDesc("float") if c == "depth.Z" else oiio.TypeDesc("half") for c in CHANNELS
        ]
        spec.attribute("compression", "zip")
        out = oiio.ImageOutput.create(str(folder / f"plate.{frame:04d}.exr"))
        out.open(str(folder / f"plate.{frame:04d}.exr"), spec)
        out.write_image(pixels)
        out.close()
    return str(folder / "plate.####.exr")


def start_server(listen: str, root: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--listen", listen, "--allow-root", str(root),
         "--spool-dir", str(root / "spool")],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    line = process.stdout.readline()
    if not line.startswith("stylelock server listening on "):
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, line.split()[-1]


def timed_remote(address: str, spec: JobSpec, inline: bool) -> tuple[float, dict[str, float]]:
    marks: dict[str, float] = {}
    started = time.perf_counter()

    def on_event(event) -> None:
        now = time.perf_counter() - started
        marks.setdefault(f"first_{event.kind}", now)
        marks[f"last_{event.kind}"] = now

    run_remote(address, spec, inline=inline, on_event=on_event)
    return time.perf_counter() - started, marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "transport.json")
    args = parser.parse_args(argv)
    measured = stamp("bench/transport.py", MEASURES)  # before running: an edit meanwhile shows as stale

    with tempfile.TemporaryDirectory(prefix="sl-bench-", dir="/tmp") as temp:
        root = Path(temp)
        plate = write_plate(root / "plate", args.frames)
        frame_bytes = sum(p.stat().st_size for p in (root / "plate").iterdir())
        spec = JobSpec(plate=plate, frames=f"1001-{1000 + args.frames}", engine="passthrough")
        tcp, tcp_address = start_server("127.0.0.1:0", root)
        unix, unix_address = start_server(f"unix://{root}/s.sock", root)
        modes = {
            "in_process": lambda out: (_timed_local(spec, out), {}),
            "server_inline_tcp": lambda out: timed_remote(tcp_address, spec.with_changes(output=out), True),
            "server_inline_unix": lambda out: timed_remote(unix_address, spec.with_changes(output=out), True),
            "server_shared_tcp": lambda out: timed_remote(tcp_address, spec.with_changes(output=out), False),
        }
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        marks: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        try:
            for address in (tcp_address, unix_address):  # warm both servers (engine, info) once
                with StyleLockClient(address) as client:
                    client.info()
            for run in range(args.runs):
                for mode, call in modes.items():
                    out = OutputSettings(pattern=str(root / f"out_{mode}_{run}" / "o.####.exr"), resume=False)
                    took, mark = call(out)
                    seconds[mode].append(took)
                    marks[mode].append(mark)
                    print(f"run {run + 1}/{args.runs} {mode:20s} {took:7.2f} s", flush=True)
                    for path in Path(out.pattern).parent.iterdir():
                        path.unlink()
        finally:
            for process in (tcp, unix):
                process.terminate()
                process.wait(30)
    medians = {mode: statistics.median(values) for mode, values in seconds.items()}
    minimums = {mode: min(values) for mode, values in seconds.items()}
    base = medians["in_process"]
    marks_median = {
        mode: {key: statistics.median(m[key] for m in runs) for key in runs[0]}
        for mode, runs in marks.items()
        if runs and runs[0]
    }
    result = {
        "provenance": measured,
        "plate": {
            "frames": args.frames,
            "size": [WIDTH, HEIGHT],
            "channels": list(CHANNELS),
            "pixel_types": "half (depth.Z float)",
            "compression": "zip",
            "bytes": frame_bytes,
        },
        "engine": "passthrough",
        "chunk_bytes": 1024 * 1024,
        "runs": args.runs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
        "seconds": seconds,
        "median_seconds": medians,
        "ratio_to_in_process": {mode: medians[mode] / base for mode in medians},
        "target_ratio": 1.10,
        "meets_target": all(medians[m] / base <= 1.10 for m in medians),
        "min_seconds": minimums,
        "ratio_of_minimums": {mode: minimums[mode] / minimums["in_process"] for mode in minimums},
        # What the transport itself adds, measured from the job's events (seconds after submit):
        # the upload (inline: until the job is queued) and the tail after the last frame is done.
        "transport_seconds": {
            mode: {
                "upload_until_queued": m.get("first_queued", 0.0),
                "after_last_frame_done": m.get("first_finished", 0.0) - m.get("last_frame_done", 0.0),
            }
            for mode, m in marks_median.items()
        },
        "event_marks_median": marks_median,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratio_to_in_process"], indent=2))
    return 0


def _timed_local(spec: JobSpec, output: OutputSettings) -> float:
    started = time.perf_counter()
    run_job(spec.with_changes(output=output))
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
