"""Soak: 8 concurrent clients x 50 frames of 1080p against one `stylelock serve` over loopback TCP.

Issue 14's bar: "8 concurrent clients x 50 frames of 1080p over loopback: zero errors, every frame
byte-identical to a single-client run, peak server memory reported."

A real `stylelock serve` process (default settings: two jobs on the device at once, frame by frame
round robin, the rest queued; two upload decode workers on this machine) on 127.0.0.1, a 50-frame
1920x1080 sample plate (`stylelock.core.sample.write_sample_plate`: RGBA, depth and motion AOVs,
overscan, ZIP; about 8.4 MB a frame), and the `passthrough` engine: the bar is about the server under
load (queueing, fair scheduling, uploads and their decode, frame streaming, memory), not about an
engine's arithmetic, and passthrough leaves every byte of work to the server's own path.

First one client runs the job alone (shared paths) - the reference. Then 8 client processes, each
its own job of the same 50 frames into its own output folder, start together: 4 inline (upload
the plate, stream the frames back) and 4 shared-path. Resume is off, so every job makes every frame
(none comes from another job's outputs or the inline result cache). Recorded: errors (a client's
exception or error event, a frame not made, a traceback or ERROR line in the server's log), every
output frame compared byte for byte with the reference, wall time and frames per second, the
server's resident memory sampled every 0.25 s with its decode workers (and the kernel's peak,
VmHWM), its CPU time, and the machine's load.

    python bench/soak.py [--clients 8] [--inline 4] [--frames 50] [--size 1920x1080]
                         [--plate DIR] [--quick] [--keep DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_server import ServerProcess, children, machine, pinned_code, status_kib
from provenance import changes

#: What these numbers measure (bench/provenance.py): the server's path under concurrent load - the
#: job manager and its fair scheduler, the pipeline's per-job reading and writing, the spool and the
#: upload decode workers, the streams' limits, the gRPC service that streams frames, and the client.
MEASURES = (
    "server/jobs.py",
    "server/scheduler.py",
    "server/pipeline.py",
    "server/transport.py",
    "server/streams.py",
    "server/service.py",
    "core/exr/worker.py",
    "core/client/connection.py",
    "core/client/transfer.py",
    "bench/live_server.py",
    "bench/soak.py",
)

FIRST = 1001
ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


# -- one client (a process of its own) -------------------------------------------------------------


def client_run(address: str, spec_json: str, inline: bool, start_at: float) -> dict:
    """Run one job to its end with the real client; what happened, with times after `start_at`."""
    from stylelock.core.client import StyleLockClient
    from stylelock.core.client import events as kinds
    from stylelock.core.jobspec import JobSpec

    spec = JobSpec.from_json(spec_json)
    time.sleep(max(0.0, start_at - time.time()))
    began = time.time()
    record: dict = {"inline": inline, "error": "", "made": 0, "skipped": 0, "frames": []}
    try:
        with StyleLockClient(address, timeout=120.0) as client:
            job_id = client.submit(spec, inline=inline)
            record["submitted_s"] = round(time.time() - began, 3)  # inline: the upload included
            for event in client.watch(job_id):
                if event.kind == kinds.STARTED:
                    record["started_s"] = round(time.time() - began, 3)
                elif event.kind == kinds.FRAME_DONE:
                    record["frames"].append(event.frame)
                    record["skipped" if event.skipped else "made"] += 1
                    record.setdefault("first_frame_s", round(time.time() - began, 3))
                elif event.kind == kinds.ERROR:
                    record["error"] = f"error event {event.code}: {event.message}"
                elif event.kind == kinds.CANCELLED:
                    record["error"] = f"cancelled: {event.message}"
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    record["seconds"] = round(time.time() - began, 3)
    record["began"] = began
    return record


def start_client(address: str, spec_json: str, inline: bool, start_at: float, env: dict) -> subprocess.Popen:
    args = json.dumps({"address": address, "spec": spec_json, "inline": inline, "start_at": start_at})
    return subprocess.Popen(
        [sys.executable, __file__, "--client", args], env=env, stdout=subprocess.PIPE, text=True
    )


def client_result(process: subprocess.Popen, timeout: float) -> dict:
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        return {
            "error": f"the client did not end within {timeout:g} s",
            "made": 0,
            "skipped": 0,
            "frames": [],
        }
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        return {
            "error": f"the client process exited with {process.returncode}",
            "made": 0,
            "skipped": 0,
            "frames": [],
        }
    return json.loads(lines[-1])


# -- the server's memory and the machine's load, sampled ----------------------------------------------


class Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int, int, int]] = []  # time, server KiB, workers KiB, workers
        self.worker_peaks: dict[int, int] = {}
        self.load_peak = 0.0
        self.server_hwm = 0  # KiB: the kernel's peak resident size of the server process
        self._halt = threading.Event()

    def sample(self) -> None:
        own = status_kib(self.pid, "VmRSS")
        workers = children(self.pid)
        rss = 0
        for child in workers:
            rss += status_kib(child, "VmRSS")
            self.worker_peaks[child] = max(self.worker_peaks.get(child, 0), status_kib(child, "VmHWM"))
        self.samples.append((time.monotonic(), own, rss, len(workers)))
        self.server_hwm = max(self.server_hwm, status_kib(self.pid, "VmHWM"))
        self.load_peak = max(self.load_peak, os.getloadavg()[0])

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def timeline(self, since: float, until: float, step: float = 10.0) -> list[list[float]]:
        """[seconds after `since`, server MiB, with decode workers MiB]: the peak of every `step` s."""
        rows: dict[int, list[float]] = {}
        for t, own, workers, _ in self.samples:
            if since <= t <= until:
                slot = int((t - since) // step)
                row = rows.setdefault(slot, [slot * step, 0.0, 0.0])
                row[1] = max(row[1], round(own / 1024, 1))
                row[2] = max(row[2], round((own + workers) / 1024, 1))
        return [rows[k] for k in sorted(rows)]

    def window(self, since: float, until: float) -> dict:
        inside = [s for s in self.samples if since <= s[0] <= until] or self.samples[-1:]
        return {
            "server_mib_peak": round(max(s[1] for s in inside) / 1024, 1),
            "with_decode_workers_mib_peak": round(max(s[1] + s[2] for s in inside) / 1024, 1),
            "server_mib_mean": round(sum(s[1] for s in inside) / len(inside) / 1024, 1),
            "decode_workers_at_most": max(s[3] for s in inside),
            "samples": len(inside),
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and of its children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


# -- the plate and the outputs --------------------------------------------------------------------------


def write_plate(folder: Path, frames: list[int], width: int, height: int, env: dict) -> str:
    """The sample plate, written by two processes (each frame's bytes do not depend on the others)."""
    code = (
        "import sys, json; from stylelock.core.sample import write_sample_plate; "
        "write_sample_plate(sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))"
    )
    halves = [frames[0::2], frames[1::2]]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(folder), json.dumps(part), str(width), str(height)], env=env
        )
        for part in halves
        if part
    ]
    for writer in writers:
        if writer.wait() != 0:
            raise RuntimeError("writing the sample plate failed")
    return str(folder / "plate.####.exr")


def digests(out: Path) -> dict[int, str]:
    found = {}
    for path in sorted(out.glob("o.*.exr")):
        found[int(path.name.split(".")[1])] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def stray_files(out: Path) -> list[str]:
    """Anything in an output folder that is not a finished frame (temporary or partial files)."""
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir() if not (p.name.startswith("o.") and p.suffix == ".exr"))


def log_problems(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    return [line[:300] for line in lines if " ERROR " in line or "Traceback" in line or " CRITICAL " in line]


# -- the run --------------------------------------------------------------------------------------------


def run(
    clients: int, inline_clients: int, count: int, size: tuple[int, int], work: Path, plate_dir: Path | None
) -> dict:
    from stylelock.core.jobspec import JobSpec, OutputSettings

    began = time.monotonic()
    load_start = list(os.getloadavg())
    env, provenance = pinned_code(work / "pkg", "bench/soak.py", MEASURES)
    frames = list(range(FIRST, FIRST + count))

    started = time.monotonic()
    if plate_dir is not None and all((plate_dir / f"plate.{f:04d}.exr").is_file() for f in frames):
        plate, plate_written = str(plate_dir / "plate.####.exr"), False
    else:
        plate, plate_written = write_plate(plate_dir or work / "plate", frames, *size, env), True
    plate_seconds = time.monotonic() - started
    plate_bytes = sum(Path(plate.replace("####", f"{f:04d}")).stat().st_size for f in frames)

    def spec(out: Path) -> JobSpec:
        return JobSpec(
            plate=plate,
            frames=f"{frames[0]}-{frames[-1]}",
            engine="passthrough",
            output=OutputSettings(pattern=str(out / "o.####.exr"), resume=False),
        )

    log = work / "server.log"
    server = ServerProcess(
        "--state-dir",
        str(work / "state"),
        "--allow-root",
        str(work),
        "--allow-root",
        str(Path(plate).parent),
        log_path=log,
        env=env,
    )
    sampler = Sampler(server.pid)
    sampler.sample()
    memory_at_start = sampler.window(0, float("inf"))
    sampler.start()
    try:
        # the reference: one client alone
        ref_began = time.monotonic()
        single = client_result(
            start_client(server.address, spec(work / "ref").to_json(), False, 0.0, env), 1800
        )
        ref_ended = time.monotonic()
        if single["error"] or single["made"] != count:
            raise RuntimeError(f"the single-client run failed: {single}")
        reference = digests(work / "ref")

        # the soak: every client at once
        cpu_before = cpu_seconds(server.pid)
        load_before = list(os.getloadavg())
        start_at = time.time() + 3.0  # the clients import and connect first, then start together
        modes = [i < inline_clients for i in range(clients)]
        processes = [
            start_client(server.address, spec(work / f"client{i}").to_json(), inline, start_at, env)
            for i, inline in enumerate(modes)
        ]
        soak_began = time.monotonic() + max(0.0, start_at - time.time())
        results = [client_result(p, 3600) for p in processes]
        soak_ended = time.monotonic()
        cpu_used = cpu_seconds(server.pid) - cpu_before
        load_after = list(os.getloadavg())
        time.sleep(2.0)  # an inline job's spool goes once its watcher has streamed every frame
        sampler.sample()
        memory_end = sampler.samples[-1]
        spool = work / "state" / "spool"
        left_in_spool = sorted(str(p.relative_to(spool)) for p in spool.rglob("*")) if spool.is_dir() else []
    finally:
        sampler.stop()
        stop_code = server.stop()

    # every frame, byte for byte
    per_client = []
    errors: list[str] = []
    compared = identical = 0
    for i, (inline, result) in enumerate(zip(modes, results, strict=True)):
        got = digests(work / f"client{i}")
        same = sum(1 for f in frames if got.get(f) == reference[f])
        compared += len(frames)
        identical += same
        strays = stray_files(work / f"client{i}")
        problems = []
        if result["error"]:
            problems.append(result["error"])
        if result["made"] != count or result["skipped"]:
            problems.append(f"made {result['made']} and skipped {result['skipped']} of {count}")
        if same != count:
            problems.append(f"{count - same} frames differ from the single-client run or are missing")
        if strays:
            problems.append(f"stray files in the output folder: {strays[:5]}")
        errors += [f"client {i}: {p}" for p in problems]
        per_client.append(
            {
                "client": i,
                "transport": "inline" if inline else "shared paths",
                "seconds": result.get("seconds"),
                "submitted_s": result.get("submitted_s"),
                "first_frame_s": result.get("first_frame_s"),
                "made": result["made"],
                "skipped": result["skipped"],
                "identical": same,
                "error": result["error"],
            }
        )
    server_log_problems = log_problems(log)
    errors += [f"server log: {line}" for line in server_log_problems]
    if stop_code != 0:
        errors.append(f"the server exited with {stop_code} on SIGTERM")
    if left_in_spool:
        errors.append(f"the spool still holds {len(left_in_spool)} entries after the run")

    wall = soak_ended - soak_began
    total_frames = sum(r["made"] for r in results)
    soak_memory = sampler.window(soak_began, soak_ended)
    return {
        "provenance": provenance,
        "code_run": (
            "a copy of the stylelock package taken when the run started (bench/live_server.py "
            "snapshot_package): the server, the clients and the plate writers imported it"
        ),
        "measured_files_edited_during_run": changes(provenance),
        "machine": {
            **machine(),
            "load_avg_at_start": load_start,
            "load_avg_before_soak": load_before,
            "load_avg_after_soak": load_after,
            "load_1min_peak": round(sampler.load_peak, 2),
        },
        "bar": "8 concurrent clients x 50 frames of 1080p over loopback: zero errors, every frame "
        "byte-identical to a single-client run, peak server memory reported",
        "bar_met": not errors and identical == compared and (clients, count, size) == (8, 50, (1920, 1080)),
        "engine": "passthrough",
        "engine_why": (
            "the bar is about the server under load (queue, fair scheduling, uploads and their decode in "
            "worker processes, frame streaming, memory); passthrough leaves every byte of work to the "
            "server's own path (decode, colour encode, re-encode, ZIP write) and no engine arithmetic"
        ),
        "server_settings": "defaults: max_active_jobs 2, max_queue 64, decode workers 2 (half the CPUs, "
        "two to four), max_streams_per_client 16, loopback TCP on a free port",
        "plate": {
            "width": size[0],
            "height": size[1],
            "frames": count,
            "bytes": plate_bytes,
            "mib_per_frame": round(plate_bytes / count / MIB, 2),
            "written": plate_written,
            "seconds_to_write": round(plate_seconds, 1),
            "kind": "stylelock.core.sample write_sample_plate: RGBA + depth + motion AOVs, ZIP",
        },
        "clients": {
            "total": clients,
            "inline": inline_clients,
            "shared_paths": clients - inline_clients,
            "frames_each": count,
            "resume": False,
        },
        "single_client": {
            "seconds": round(ref_ended - ref_began, 2),
            "frames_per_second": round(count / (ref_ended - ref_began), 3),
            "transport": "shared paths",
        },
        "errors": len(errors),
        "error_list": errors[:50],
        "frames_compared": compared,
        "frames_identical": identical,
        "frames_made": total_frames,
        "wall_seconds": round(wall, 2),
        "frames_per_second": round(total_frames / wall, 3),
        "server_cpu_seconds": round(cpu_used, 1),
        "server_cpu_seconds_per_frame": round(cpu_used / max(1, total_frames), 3),
        "memory_mib": {
            "at_start": memory_at_start["server_mib_peak"],
            "single_client_peak": sampler.window(ref_began, ref_ended)["server_mib_peak"],
            "soak": soak_memory,
            "peak_server": soak_memory["server_mib_peak"],
            "peak_with_decode_workers": soak_memory["with_decode_workers_mib_peak"],
            "decode_worker_peaks": sorted(round(v / 1024, 1) for v in sampler.worker_peaks.values()),
            "at_end": round(memory_end[1] / 1024, 1),
            "at_end_with_decode_workers": round((memory_end[1] + memory_end[2]) / 1024, 1),
            "server_vmhwm": round(sampler.server_hwm / 1024, 1),
            "first_half_peak": sampler.window(soak_began, soak_began + wall / 2)["server_mib_peak"],
            "second_half_peak": sampler.window(soak_began + wall / 2, soak_ended)["server_mib_peak"],
            "timeline_10s": sampler.timeline(soak_began, soak_ended),
        },
        "per_client": per_client,
        "seconds": round(time.monotonic() - began, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--inline", type=int, default=4, help="of the clients, how many upload (inline)")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--plate", type=Path, help="a folder holding (or to hold) the plate, kept")
    parser.add_argument("--quick", action="store_true", help="4 clients x 4 frames at 480x270, not the bar")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--client", help=argparse.SUPPRESS)  # a client process of a run
    args = parser.parse_args(argv)
    if args.client:
        job = json.loads(args.client)
        print(json.dumps(client_run(job["address"], job["spec"], job["inline"], job["start_at"])))
        return 0
    if args.quick:
        args.clients, args.inline, args.frames, args.size = 4, 2, 4, "480x270"
    default = Path("soak-quick.json") if args.quick else ROOT / "bench" / "results" / "soak.json"
    out = args.out or default
    size = tuple(int(v) for v in args.size.lower().split("x"))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(args.clients, args.inline, args.frames, size, args.keep, args.plate)
    else:
        with tempfile.TemporaryDirectory(prefix="stylelock-soak-") as folder:
            result = run(args.clients, args.inline, args.frames, size, Path(folder), args.plate)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    summary = {
        k: result[k]
        for k in ("errors", "frames_compared", "frames_identical", "wall_seconds", "frames_per_second")
    }
    print(json.dumps({**summary, "memory_mib": result["memory_mib"]["soak"]}))
    for error in result["error_list"]:
        print("error:", error)
    print(f"bar met: {result['bar_met']}; wrote {out}")
    return 0 if not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
