"""A pure-Python wheel of the client's own sources, written without a build backend.

A host that installs wheels (Blender's extensions install every wheel the manifest lists into a
site-packages of their own) gets `stylelock`'s client sources the same way as grpcio or protobuf,
rather than through a `sys.path` entry. A wheel is a zip with the package files and a
`<name>-<version>.dist-info/` folder holding METADATA, WHEEL and RECORD (PEP 427); its contents
come from `packaging.copy_client_sources`, so the host runs exactly the modules the Nuke plugin runs.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from stylelock.core.hosts.packaging import copy_client_sources

CLIENT_DISTRIBUTION = "stylelock_client"
#: Zip entries get this timestamp, so the same sources always make the same wheel bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def write_wheel(
    dest: Path,
    name: str,
    version: str,
    files: Sequence[tuple[str, bytes]],
    *,
    requires: Sequence[str] = (),
    summary: str = "",
) -> Path:
    """Write `<name>-<version>-py3-none-any.whl` into `dest` holding `files` ((archive path, bytes))."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            f"Name: {name}",
            f"Version: {version}",
            *([f"Summary: {summary}"] if summary else []),
            *(f"Requires-Dist: {requirement}" for requirement in requires),
            "",
        ]
    )
    wheel = "Wheel-Version: 1.0\nGenerator: stylelock\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entries = [
        *sorted(files),
        (f"{dist_info}/METADATA", metadata.encode()),
        (f"{dist_info}/WHEEL", wheel.encode()),
    ]
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return path


def client_wheel(dest: Path, version: str, requires: Sequence[str] = ()) -> Path:
    """The client's sources (`copy_client_sources`) as a pure-Python wheel in `dest`."""
    with tempfile.TemporaryDirectory(prefix="stylelock-wheel-") as scratch:
        root = Path(scratch)
        copied = copy_client_sources(root)
        files = [(path.relative_to(root).as_posix(), path.read_bytes()) for path in copied]
    return write_wheel(
        dest,
        CLIENT_DISTRIBUTION,
        version,
        files,
        requires=requires,
        summary="StyleLock's thin client: job specs, the gRPC client and what host plugins share",
    )
