"""`stylelock jobs` and `stylelock cancel`: the queue of a running server."""

from __future__ import annotations

import argparse
import json
import os
import time

from stylelock.core.client.events import JobInfo
from stylelock.server.config import DEFAULT_LISTEN

SERVER_ENV = "STYLELOCK_SERVER"


def _server_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        metavar="ADDR",
        default=os.environ.get(SERVER_ENV, DEFAULT_LISTEN),
        help=f"the server (default: ${SERVER_ENV}, else {DEFAULT_LISTEN})",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser("jobs", help="list the queued and running jobs of a server")
    _server_argument(jobs)
    jobs.add_argument("--all", action="store_true", help="include ended jobs the server remembers")
    jobs.add_argument("--json", action="store_true", help="machine-readable output")
    jobs.set_defaults(run=run)
    cancel = subparsers.add_parser("cancel", help="cancel a job on a server")
    cancel.add_argument("job", metavar="JOB", help="the job id (see stylelock jobs)")
    _server_argument(cancel)
    cancel.set_defaults(run=run_cancel)


def run(args: argparse.Namespace) -> int:
    from stylelock.core.client import StyleLockClient

    with StyleLockClient(args.server) as client:
        jobs = client.jobs(include_ended=args.all)
    if args.json:
        print(json.dumps([_as_dict(j) for j in jobs], indent=2))
    elif not jobs:
        print(f"no jobs on {args.server}")
    else:
        print(format_jobs(jobs))
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    from stylelock.core.client import StyleLockClient

    with StyleLockClient(args.server) as client:
        state = client.cancel(args.job)
    if state == "running":
        print(f"job {args.job}: cancelling (stops after the frame in hand)")
    else:
        print(f"job {args.job}: {state}")
    return 0


def _as_dict(job: JobInfo) -> dict[str, object]:
    return {name: getattr(job, name) for name in job.__dataclass_fields__}


def format_jobs(jobs: list[JobInfo]) -> str:
    now = time.time()
    rows = [("JOB", "STATE", "ENGINE", "FRAMES", "AGE", "PLATE")]
    for job in jobs:
        state = job.state if job.position is None else f"{job.state} #{job.position}"
        rows.append(
            (
                job.job_id,
                state,
                job.engine,
                f"{job.frames_done}/{job.frames_total}",
                f"{now - job.created:.0f}s",
                ("[inline] " if job.inline else "") + job.plate,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )
