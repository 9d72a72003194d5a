"""Benchmark: what decoding each uploaded frame in a worker process costs a normal inline upload.

Before an inline job is queued, the server decodes every uploaded file whole in a worker process
(`stylelock.core.exr.worker`), so that a decoder crash or hang fails that upload only. This times
the spool's receive step (`server.transport.Spool.receive`, in-process, the chunks read from disk)
for bench/transport.py's 12-frame 1080p half-float RGBA + AOV plate, with the decode step (the
server's default: header check, then a full decode in the worker pool while the next file arrives)
and without any check (`limits=None`), in turn, several times; and, for scale, one frame's decode in
a worker against the same decode in-process. Results: bench/results/upload_decode.json.

    python bench/upload_decode.py [--frames 12] [--runs 5] [--out bench/results/upload_decode.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from provenance import stamp
from transport import CHANNELS, HEIGHT, WIDTH, write_plate

from stylelock.core.client.transfer import file_chunks
from stylelock.core.exr import read_exr
from stylelock.core.exr.limits import DecodeLimits, check_header_bytes
from stylelock.core.exr.worker import DecodeWorkers, default_workers
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.server.config import ServerConfig, decode_limits
from stylelock.server.transport import Spool, UploadPiece

#: The code these numbers measure (bench/provenance.py): the upload's receive step and the decode
#: it runs in worker processes.
MEASURES = (
    "server/transport.py",
    "core/exr/worker.py",
    "core/exr/read.py",
    "core/exr/limits.py",
    "bench/upload_decode.py",
)


def receive(
    root: Path, plate: Path, frames: list[int], limits: DecodeLimits | None, workers: DecodeWorkers
) -> float:
    """Seconds for one Spool.receive of the plate's frames (a new spool each time)."""
    spec = JobSpec(
        str(plate / "plate.####.exr"),
        f"{frames[0]}-{frames[-1]}",
        "passthrough",
        output=OutputSettings("/client/o.####.exr"),
    )
    spool = Spool(root, f"job{time.monotonic_ns()}", spec, frames)

    def pieces():
        for frame in frames:
            for index, last, data in file_chunks(str(plate / f"plate.{frame:04d}.exr")):
                yield UploadPiece(spool.job_id, frame, None, index, last, data)

    config = ServerConfig()
    started = time.perf_counter()
    spool.receive(
        pieces(),
        max_frame_bytes=config.max_frame_bytes,
        max_upload_bytes=config.max_upload_bytes,
        limits=limits,
        decoders=workers,
    )
    seconds = time.perf_counter() - started
    assert not spool.missing()
    spool.remove()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "upload_decode.json")
    args = parser.parse_args(argv)
    measured = stamp("bench/upload_decode.py", MEASURES)
    limits = decode_limits(ServerConfig())
    frames = list(range(1001, 1001 + args.frames))
    workers = default_workers()  # the server's pool
    with tempfile.TemporaryDirectory(prefix="sl-bench-", dir="/tmp") as temp:
        root = Path(temp)
        write_plate(root / "plate", args.frames)
        plate = root / "plate"
        plate_bytes = sum(p.stat().st_size for p in plate.iterdir())
        first = str(plate / f"plate.{frames[0]:04d}.exr")
        workers.check(first, limits)  # start the workers (a server starts them on its first upload)
        seconds: dict[str, list[float]] = {"with_decode": [], "without_checks": []}
        one: dict[str, list[float]] = {"worker_decode": [], "in_process_decode": [], "header_check": []}
        try:
            for run in range(args.runs):
                seconds["with_decode"].append(receive(root / "spool", plate, frames, limits, workers))
                seconds["without_checks"].append(receive(root / "spool", plate, frames, None, workers))
                for name, call in (
                    ("worker_decode", lambda: workers.check(first, limits)),
                    ("in_process_decode", lambda: read_exr(first, limits)),
                    ("header_check", lambda: check_header_bytes(first, limits)),
                ):
                    started = time.perf_counter()
                    call()
                    one[name].append(time.perf_counter() - started)
                print(
                    f"run {run + 1}/{args.runs}: with decode {seconds['with_decode'][-1]:.3f} s, "
                    f"without checks {seconds['without_checks'][-1]:.3f} s",
                    flush=True,
                )
        finally:
            workers.close()
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    frame_medians = {name: statistics.median(values) for name, values in one.items()}
    added = medians["with_decode"] - medians["without_checks"]
    result = {
        "provenance": measured,
        "plate": {
            "frames": args.frames,
            "size": [WIDTH, HEIGHT],
            "channels": list(CHANNELS),
            "pixel_types": "half (depth.Z float)",
            "compression": "zip",
            "bytes": plate_bytes,
        },
        "workers": workers.size,
        "runs": args.runs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
        "receive_seconds": seconds,
        "receive_median_seconds": medians,
        "decode_step_adds_seconds": added,
        "decode_step_adds_seconds_per_frame": added / args.frames,
        "one_frame_median_seconds": frame_medians,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in ("receive_median_seconds", "decode_step_adds_seconds", "one_frame_median_seconds")
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
