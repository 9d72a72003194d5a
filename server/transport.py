"""How frames reach the server and leave it.

Shared paths: a job names files on the server's disk; every one must lie under an allowed root
after symlinks and `..` are resolved (`AllowedRoots`), else PERMISSION_DENIED.

Inline: the client streams EXR bytes in ~1 MiB chunks into a per-job spool folder (`Spool`), one
file after the other, each written to a temporary name and renamed once its last chunk has arrived
and a worker process has decoded it whole (`stylelock.core.exr.worker`); finished frames go back the
same way (`core.client.transfer.file_chunks`). Nothing holds more than one chunk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stylelock.core.errors import (
    CorruptFrameError,
    OutputError,
    PathNotAllowedError,
    ResourceLimitError,
    SpecError,
)
from stylelock.core.exr.limits import DecodeLimits, check_header_bytes
from stylelock.core.exr.rawheader import MAGIC as EXR_MAGIC
from stylelock.core.exr.worker import DecodeWorkers, default_workers
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.core.paths import is_under, names_files
from stylelock.core.sequence import FramePattern
from stylelock.core.style_image import DISPLAY_IMAGE_SUFFIXES

log = logging.getLogger(__name__)


class AllowedRoots:
    """The folders shared-path jobs may touch, resolved once at start-up."""

    def __init__(
        self, roots: Iterable[str | os.PathLike[str]] = (), *, registered_models: Iterable[str] = ()
    ) -> None:
        """`registered_models`: the names the server's model library knows; any other model value
        in a job's parameters is a path, and must lie under a root like every other path."""
        self.registered_models = frozenset(registered_models)
        resolved = []
        for root in roots:
            real = os.path.realpath(os.fspath(root))
            if not os.path.isdir(real):
                raise SpecError(f"allowed root {os.fspath(root)} is not a folder")
            resolved.append(real)
        self.roots: tuple[str, ...] = tuple(dict.fromkeys(resolved))

    def contains(self, path: str) -> bool:
        return is_under(path, self.roots)

    def with_root(self, folder: str | os.PathLike[str]) -> AllowedRoots:
        """These roots and `folder` (an inline job's spool)."""
        return AllowedRoots([*self.roots, folder], registered_models=self.registered_models)

    def check(self, path: str, what: str) -> None:
        """Raise PathNotAllowedError unless `path` (resolved) lies under a root."""
        if not self.roots:
            raise PathNotAllowedError(
                f"{what} {path} is a path on the server, but this server shares no folders "
                "(start it with --allow-root DIR) - send the frames inline instead"
            )
        if not os.path.isabs(path):
            raise PathNotAllowedError(f"{what} {path} must be an absolute path on the server")
        if not self.contains(path):
            raise PathNotAllowedError(
                f"{what} {path} lies outside the server's allowed roots ({', '.join(self.roots)})"
            )

    def check_spec(self, spec: JobSpec, *, inline: bool) -> None:
        """Every path of `spec` the server will open must lie under a root.

        Inline jobs carry their plate and style references as uploads and write to the spool, so
        only the other paths (a mask sequence, guide files, an OCIO config file, models named by
        path) are checked. A sequence is checked file by file,
        every file it has on disk (engines read frames outside the job's range: warm-up, a guide's
        shot-wide range), so a frame that is a symlink out of the roots is refused.
        """
        if not inline:
            self.check_sequence(spec.plate, "plate")
            for style in spec.styles:
                self.check(style.path, "style reference")
            if not spec.output.pattern:
                raise SpecError("a shared-path job needs an output pattern on the server's disk")
            output = FramePattern.parse(spec.output.pattern)
            self.check(output.dirname or spec.output.pattern, "output folder")
        if spec.mask and names_files(spec.mask):
            self.check_sequence(spec.mask, "mask")
        for name, source in spec.guides.items():
            if names_files(source):
                self.check_sequence(source, f"guide {name!r}")
        config = spec.colour.config
        if config and not config.startswith("ocio://"):
            self.check(config, "OCIO config")
        for name, path in model_paths(spec.params, self.registered_models):
            self.check(path, f"{name} (name a model the server registered, or one under an allowed root)")

    def check_sequence(self, pattern: str, what: str) -> None:
        """The sequence's folder and each of its files on disk must lie under a root."""
        sequence = FramePattern.parse(pattern)
        self.check(pattern, what)
        for frame in sequence.existing_frames():
            self.check(sequence.path(frame), f"{what} frame")


#: Engine parameters that name a model, an adapter or a ControlNet (`GUIDE=PATH,...`) by name or path.
MODEL_PARAMS = ("model", "ip_adapter", "motion_adapter")
MODEL_LIST_PARAMS = ("controlnet_paths",)


def model_paths(params: Mapping[str, Any], registered: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(parameter, path) for each model a job names other than by a registered name: every such
    value is a path (`evil.safetensors`, `~`, `..` too, which would resolve against the server's
    working folder or home)."""
    known = set(registered)
    found = []
    for name in MODEL_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and value and value not in known:
            found.append((f"parameter {name}", value))
    for name in MODEL_LIST_PARAMS:
        value = params.get(name)
        for item in str(value or "").split(","):
            _, _, path = item.partition("=")
            if path.strip():
                found.append((f"parameter {name}", path.strip()))
    return found


@dataclass(frozen=True)
class UploadPiece:
    """One chunk of one file, as the servicer hands it over (proto-free)."""

    job_id: str
    frame: int | None
    style_index: int | None
    chunk_index: int
    last: bool
    data: bytes


class Spool:
    """The per-job folder of an inline job: plate/, styles/, out/."""

    PLATE = "plate/plate.%08d.exr"
    OUTPUT = "out/out.%08d.exr"

    def __init__(self, root: Path, job_id: str, spec: JobSpec, frames: Sequence[int]) -> None:
        """``frames`` are the spec's frames, parsed."""
        self.root = Path(root) / job_id
        self.job_id = job_id
        self.frames = list(frames)
        self.style_suffixes = [Path(s.path).suffix or ".exr" for s in spec.styles]
        self.plate = FramePattern.parse(str(self.root / self.PLATE))
        self.output = FramePattern.parse(str(self.root / self.OUTPUT))
        for sub in ("plate", "styles", "out"):
            try:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"spool folder {self.root} cannot be created: {exc.strerror}") from None
        self._frame_set = set(self.frames)
        self.received: set[tuple[str, int]] = set()
        self.bytes_received = 0

    def style_path(self, index: int) -> str:
        return str(self.root / "styles" / f"style_{index:03d}{self.style_suffixes[index]}")

    def job_spec(self, spec: JobSpec) -> JobSpec:
        """The spec the server runs: the client's spec with plate, styles and output in the spool."""
        styles = tuple(
            StyleReference(path=self.style_path(i), frame=s.frame) for i, s in enumerate(spec.styles)
        )
        output = OutputSettings(
            pattern=self.output.pattern, compression=spec.output.compression, resume=False
        )
        return replace(spec, plate=self.plate.pattern, styles=styles, output=output)

    def missing(self) -> list[str]:
        names = [f"frame {f}" for f in self.frames if ("frame", f) not in self.received]
        names += [f"style {i}" for i in range(len(self.style_suffixes)) if ("style", i) not in self.received]
        return names

    def receive(
        self,
        pieces: Iterable[UploadPiece],
        *,
        max_frame_bytes: int,
        max_upload_bytes: int,
        limits: DecodeLimits | None = None,
        decoders: DecodeWorkers | None = None,
    ) -> None:
        """Write uploaded chunks; raise SpecError for a chunk out of order or a file not expected.

        With `limits`, each uploaded file is checked as soon as it is complete: an EXR's header by
        StyleLock's own parser (before any decoder reads it), then every file (EXR, or a PNG/JPEG/
        TIFF style reference) is decoded completely in a worker process (`decoders`, default the
        process's shared pool: `stylelock.core.exr.worker`), so a file that crashes, hangs or
        exhausts the decoder fails this upload only (DATA_LOSS / RESOURCE_EXHAUSTED). Decoding runs
        while the next file arrives; a file keeps its temporary name until it has decoded, and this
        returns once every file has.
        """
        if limits is not None and decoders is None:
            decoders = default_workers()
        current: tuple[str, int] | None = None
        handle = None
        temp = final = ""
        expected_chunk = 0
        size = 0
        decoding: list[tuple[str, str, Future[None]]] = []
        try:
            for piece in pieces:
                if piece.job_id and piece.job_id != self.job_id:
                    raise SpecError(
                        f"upload for job {self.job_id} carries a chunk of job {_shown(piece.job_id)}"
                    )
                target = self._target(piece)
                if current is None:
                    if target in self.received:
                        raise SpecError(f"{_name(target)} of job {self.job_id} was already uploaded")
                    current, expected_chunk, size = target, 0, 0
                    final = self._path(target)
                    temp = f"{final}.part"
                    handle = open(temp, "wb")  # noqa: SIM115 - closed below, across loop turns
                elif target != current:
                    raise SpecError(
                        f"chunk {piece.chunk_index} of {_name(target)} arrived before the last chunk "
                        f"of {_name(current)}"
                    )
                if piece.chunk_index != expected_chunk:
                    raise SpecError(
                        f"chunk {piece.chunk_index} of {_name(target)} arrived where chunk "
                        f"{expected_chunk} was expected"
                    )
                if expected_chunk == 0 and target[0] == "frame" and piece.data[:4] != EXR_MAGIC:
                    raise CorruptFrameError(
                        f"uploaded {_name(target)} is not an EXR file (it starts with {piece.data[:4]!r})"
                    )
                size += len(piece.data)
                self.bytes_received += len(piece.data)
                if size > max_frame_bytes:
                    raise ResourceLimitError(
                        f"uploaded {_name(target)} exceeds the server's limit of "
                        f"{max_frame_bytes} bytes per file"
                    )
                if self.bytes_received > max_upload_bytes:
                    raise ResourceLimitError(
                        f"upload of job {self.job_id} exceeds the server's limit of {max_upload_bytes} bytes"
                    )
                handle.write(piece.data)
                expected_chunk += 1
                if piece.last:
                    handle.close()
                    handle = None
                    kind = _decoder_kind(target, final) if limits is not None else None
                    name = f"uploaded {_name(target)}"
                    if kind == "exr":
                        check_header_bytes(temp, limits, name)
                    if kind is not None and decoders is not None:
                        _wait_for_room(decoding, decoders.size)
                        decoding.append((temp, final, decoders.submit(temp, limits, name, kind)))
                    else:
                        os.replace(temp, final)
                    self.received.add(current)
                    current = None
                _raise_first_failure(decoding)
            for decoded_temp, decoded_final, future in decoding:
                future.result()
                os.replace(decoded_temp, decoded_final)
        finally:
            if handle is not None:
                handle.close()
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            for _, _, future in decoding:
                future.cancel()  # the spool goes with the job: no file is left half-checked

    def _target(self, piece: UploadPiece) -> tuple[str, int]:
        if piece.frame is not None:
            if piece.frame not in self._frame_set:
                raise SpecError(f"uploaded frame {piece.frame} is not among the job's frames")
            return ("frame", piece.frame)
        if piece.style_index is not None:
            if not 0 <= piece.style_index < len(self.style_suffixes):
                raise SpecError(
                    f"uploaded style {piece.style_index} does not exist: the job has "
                    f"{len(self.style_suffixes)} style references"
                )
            return ("style", piece.style_index)
        raise SpecError("an upload chunk names neither a frame nor a style reference")

    def _path(self, target: tuple[str, int]) -> str:
        kind, number = target
        return self.plate.path(number) if kind == "frame" else self.style_path(number)

    def remove_inputs(self) -> None:
        for sub in ("plate", "styles"):
            shutil.rmtree(self.root / sub, ignore_errors=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _shown(text: str, limit: int = 64) -> str:
    """Text a client sent, as a message shows it: quoted printable ASCII, at most `limit` characters."""
    shown = ascii(text[:limit])
    return shown if len(shown) <= limit + 2 and len(text) <= limit else shown[: limit - 2] + "...'"


def _name(target: tuple[str, int]) -> str:
    return f"{target[0]} {target[1]}"


def _decoder_kind(target: tuple[str, int], path: str) -> str | None:
    """How an uploaded file is decoded: a frame is an EXR (its magic number was checked), a style
    reference by its suffix; None for a suffix no decoder reads (the job refuses it later)."""
    suffix = os.path.splitext(path)[1].lower()
    if target[0] == "frame" or suffix == ".exr":
        return "exr"
    return "display" if suffix in DISPLAY_IMAGE_SUFFIXES else None


def _wait_for_room(decoding: Sequence[tuple[str, str, Future[None]]], room: int) -> None:
    """Decoding may lag the upload by `room` files at most: so no decode waits in a queue, and the
    last file's wait after the upload ends is one decode, never the sum of many."""
    running = [future for _, _, future in decoding if not future.done()]
    for future in running[: max(0, len(running) - room + 1)]:
        future.result()


def _raise_first_failure(decoding: Sequence[tuple[str, str, Future[None]]]) -> None:
    """A file that failed to decode stops the upload at once, not after the last file arrives."""
    for _, _, future in decoding:
        if future.done() and future.exception() is not None:
            future.result()
