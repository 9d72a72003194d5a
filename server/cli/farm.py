"""`stylelock farm`: StyleLock jobs on a render farm (Open Job Description).

stylelock farm openjd PLATE --bundle DIR --frames 1001-1240 --chunk 24 [restyle flags] --out OUT
    writes an OpenJD job bundle (template.yaml, parameter_values.yaml, job.json); run it with
    `openjd run DIR/template.yaml -p file://DIR/parameter_values.yaml` or submit it to a farm
stylelock farm session start|stop --state FILE   the bundle's step environment (a server per session)
stylelock farm task PLATE --spec job.json --frames 1001-1024 --state FILE [restyle flags]
    one task: the chunk on the session's server (prints OpenJD progress lines)
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import sys
import threading

from stylelock.server.cli.restyle import add_job_arguments, spec_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("farm", help="render-farm jobs: OpenJD bundles, worker sessions, tasks")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    bundle = actions.add_parser("openjd", help="write an Open Job Description job bundle for a restyle")
    add_job_arguments(bundle)
    bundle.add_argument("--bundle", required=True, metavar="DIR", help="the bundle folder to write")
    bundle.add_argument("--chunk", type=int, default=24, help="frames per task (default 24)")
    bundle.add_argument(
        "--server", default="", help="use this server for every task instead of one per worker"
    )
    bundle.add_argument("--command", default="stylelock", help="the stylelock command on the workers")
    bundle.add_argument(
        "--chunk-list",
        action="store_true",
        help="tasks as a list of ranges, for OpenJD runtimes without the TASK_CHUNKING extension",
    )
    bundle.set_defaults(run=run_openjd)

    session = actions.add_parser("session", help="the server of a worker's session (OpenJD environment)")
    session.add_argument("verb", choices=("start", "stop"))
    session.add_argument("--state", required=True, help="the session's state file")
    session.add_argument("--server", default="", help="an existing server instead of starting one")
    session.add_argument("--allow-root", action="append", default=[], help="a root the server may use")
    session.add_argument("--allow-file", action="append", default=[], help="a file whose folder it may read")
    session.add_argument(
        "--output-root", action="append", default=[], help="a root the server writes into (made if missing)"
    )
    session.set_defaults(run=run_session)

    task = actions.add_parser("task", help="one chunk of a farm job on the session's server")
    add_job_arguments(task)
    task.add_argument("--state", required=True, help="the session's state file (farm session start)")
    task.set_defaults(run=run_task)
    parser.set_defaults(run=lambda args: parser.print_help() or 2)


def run_openjd(args: argparse.Namespace) -> int:
    from stylelock.core.farm.openjd import write_bundle

    spec = spec_from_args(args)
    bundle = write_bundle(
        spec,
        args.bundle,
        chunk=args.chunk,
        server=args.server,
        command=args.command,
        task_chunking=not args.chunk_list,
    )
    print(f"wrote {bundle.template}, {bundle.parameter_values.name} and {bundle.spec.name}")
    print(f"run it here:  openjd run {bundle.template} -p file://{bundle.parameter_values}")
    paths = " ".join(f"-p {name}={value}" for name, value in bundle.path_values().items())
    print(f"on Deadline:  deadline bundle submit {bundle.folder} {paths}")
    return 0


def run_session(args: argparse.Namespace) -> int:
    from stylelock.server import farm_session

    if args.verb == "stop":
        farm_session.stop(args.state)
        return 0
    from pathlib import Path

    from stylelock.core.errors import OutputError

    for folder in args.output_root:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"output folder {folder} cannot be created: {exc.strerror}") from None
    roots = [*args.allow_root, *{str(Path(f).parent) for f in args.allow_file}, *args.output_root]
    address = farm_session.start(args.state, server=args.server, allow_roots=roots)
    print(f"openjd_env: STYLELOCK_SERVER={address}", flush=True)
    return 0


def run_task(args: argparse.Namespace) -> int:
    from stylelock.core.client.remote import run_remote
    from stylelock.core.sequence import parse_frames
    from stylelock.server import farm_session
    from stylelock.server.cli.interrupt import ctrl_c_cancels

    spec = spec_from_args(args)
    address = farm_session.address(args.state)
    total = len(parse_frames(spec.frames))
    done: list[int] = []

    def progress(event: object) -> None:
        if getattr(event, "kind", "") == "frame_done":
            done.append(getattr(event, "frame", 0))
            state = "up to date" if getattr(event, "skipped", False) else "done"
            print(f"frame {getattr(event, 'frame', '?')} {state}", flush=True)
            print(f"openjd_progress: {100.0 * len(done) / max(total, 1):.1f}", flush=True)

    cancel = threading.Event()
    # OpenJD notifies a cancelled task with SIGTERM (CTRL_BREAK on Windows): the job stops on the server
    for name in ("SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: cancel.set())
    # the same chunk of the same job has the same key: a retried task re-attaches to a job still running
    key = hashlib.sha256(spec.to_json().encode()).hexdigest()[:32]
    with ctrl_c_cancels(cancel):
        frames = run_remote(address, spec, on_event=progress, cancel=cancel, idempotency_key=key)
    print(f"restyled {len(frames)} frames of {spec.frames} on {address}", file=sys.stdout, flush=True)
    return 0
