"""The StyleLock client: what Nuke, Blender, the CLI and TDs' scripts use to talk to a server.

Importable with only grpcio, protobuf and fileseq installed (no OpenImageIO, OpenColorIO or torch):

    from stylelock.core.client import StyleLockClient, run_remote

    with StyleLockClient("127.0.0.1:50151") as client:
        job_id = client.submit(spec, inline=True)      # uploads the plate from this machine
        for event in client.watch(job_id):             # frames land in spec.output.pattern
            print(event.kind, event.frame)

Every failure is a `StyleLockError` subclass carrying the server's message, shown as it is.

- `connection`: `StyleLockClient`, one server connection (queries, submit, upload, watch, cancel).
- `remote`: `run_remote`, a whole job to its end; the transport choice (`shared_paths_reachable`).
- `events`: `JobEvent` and `JobInfo`, the plain types hosts read (the server builds the same).
- `errors`: the one table between gRPC statuses and `StyleLockError` classes.
- `convert`: proto <-> those plain types, shared with the server.
- `transfer`: 1 MiB file chunks out, atomic frame files in.
"""

from stylelock.core.client.connection import StyleLockClient
from stylelock.core.client.events import JobEvent, JobInfo
from stylelock.core.client.remote import run_remote, shared_paths_reachable

__all__ = ["JobEvent", "JobInfo", "StyleLockClient", "run_remote", "shared_paths_reachable"]
