"""Benchmark: one 48-frame keyframe job on the farm path, against the same job run once in-process.

Four ways, each measured in the same run, wall-clock from the caller's side:

- `single`: `stylelock restyle` in-process (the baseline of every ratio);
- `openjd one task`: the job's OpenJD bundle with one 48-frame chunk through `openjd run` (a server
  started by the step environment, the task restyling on it);
- `openjd 6 chunks`: the same bundle cut into 6 chunks of 8, run one after another by `openjd run`
  in one session (one server for all six, as a farm worker would keep it);
- `two servers`: `stylelock restyle --server a,b` over two local server processes, one chunk each.

Two shots: keyframes painted at every chunk start (1001, 1009, ... 1041: chunks waste nothing), and
one keyframe at 1001 (every chunk re-runs the passes from 1001 up to its first frame: the keyframe
engine's warm-up contract). Outputs are checked byte-identical to `single` every time. On a farm the
chunks run on several workers at once; `openjd run` and this machine's two servers share its CPUs,
so the ratios here price the farm path's overheads and the warm-up, not a farm's parallelism.

    python bench/farm.py [--size 480x270] [--out bench/results/farm.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import stamp

FIRST, LAST, CHUNK = 1001, 1048, 8
#: The farm path's own code: the bundle writer, the worker session, the chunk spreader, the CLI glue.
MEASURES = (
    "core/farm",
    "core/client/spread.py",
    "server/farm_session.py",
    "server/cli/farm.py",
    "bench/farm.py",
)
SERVE = "import sys; from stylelock.server.cli import main; sys.exit(main(sys.argv[1:]))"


def _stylelock(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "stylelock.server.cli", *args], check=True, capture_output=True)


def _timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _same(a: Path, b: Path) -> bool:
    return all(
        (a / f"o.{f}.exr").read_bytes() == (b / f"o.{f}.exr").read_bytes() for f in range(FIRST, LAST + 1)
    )


def _server(root: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--listen", "127.0.0.1:0", "--allow-root", str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    return process, line.split("listening on", 1)[1].strip()


def measure(root: Path, keyframes: list[int]) -> dict:
    from stylelock.server.cli.demo import paint_over

    plate = str(root / "plate" / "plate.####.exr")
    flags = [plate, "--frames", f"{FIRST}-{LAST}"]
    for key in keyframes:
        flags += ["--style", f"{key}={paint_over(plate, key, root / 'paint' / f'p.{key}.exr')}"]
    openjd, stylelock = shutil.which("openjd"), shutil.which("stylelock")
    results: dict[str, dict] = {}

    def out(name: str) -> Path:
        folder = root / name
        shutil.rmtree(folder, ignore_errors=True)
        return folder

    single = out("single")
    results["single"] = {
        "seconds": _timed(lambda: _stylelock("restyle", *flags, "--out", str(single / "o.####.exr")))
    }
    for name, chunk in (("openjd one task", LAST - FIRST + 1), ("openjd 6 chunks", CHUNK)):
        folder = out(name.replace(" ", "_"))
        bundle = folder / "bundle"
        _stylelock("farm", "openjd", *flags, "--out", str(folder / "o.####.exr"), "--bundle", str(bundle),
                   "--chunk", str(chunk), "--command", stylelock)  # fmt: skip
        command = [
            openjd,
            "run",
            str(bundle / "template.yaml"),
            "-p",
            f"file://{bundle / 'parameter_values.yaml'}",
        ]
        seconds = _timed(lambda c=command: subprocess.run(c, check=True, capture_output=True))
        results[name] = {"seconds": seconds, "identical": _same(folder, single)}
    servers = [_server(root), _server(root)]
    try:
        folder = out("two_servers")
        addresses = ",".join(address for _, address in servers)
        seconds = _timed(
            lambda: _stylelock("restyle", *flags, "--out", str(folder / "o.####.exr"), "--server", addresses)
        )
        results["two servers"] = {"seconds": seconds, "identical": _same(folder, single)}
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(30)
    base = results["single"]["seconds"]
    for entry in results.values():
        entry["seconds"] = round(entry["seconds"], 2)
        entry["ratio_to_single"] = round(entry["seconds"] / base, 2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="480x270")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "farm.json"))
    args = parser.parse_args()
    report = {
        "bench": "farm",
        "provenance": stamp("bench/farm.py", MEASURES),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
        },
        "frames": f"{FIRST}-{LAST}",
        "size": args.size,
        "chunk": CHUNK,
        "shots": {},
    }
    with tempfile.TemporaryDirectory(prefix="stylelock-farm-bench-") as folder:
        root = Path(folder)
        _stylelock("sample", str(root / "plate"), "--frames", f"{FIRST}-{LAST}", "--size", args.size)
        report["shots"]["keyframe at every chunk start"] = measure(root, list(range(FIRST, LAST + 1, CHUNK)))
        report["shots"]["one keyframe at 1001"] = measure(root, [FIRST])
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["shots"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
