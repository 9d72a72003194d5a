"""The job spec: one typed, serialisable description of a restyle, shared by every caller.

The CLI builds it from flags, the gRPC contract carries it (as JSON inside the proto message, so
the proto never drifts from this file), host plugins build it from their panels, and farm templates
store it on disk. Serialised specs carry a schema label (`JobSpec.1`); `from_dict` upgrades older
labels through registered functions so old farm submissions keep loading.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from stylelock.core.errors import SpecError
from stylelock.core.paths import has_frame_token, names_files
from stylelock.core.spec_shape import MAX_SPEC_BYTES, check_shape

SCHEMA = "JobSpec.1"

#: Upgrade functions from an older schema label to the next one: label -> (next label, function).
_UPGRADES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {}

ENCODINGS = ("srgb", "acescct")


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(sorted((value or {}).items())))


@dataclass(frozen=True)
class StyleReference:
    """A locked style: a painted keyframe of plate frame `frame`, or a look image when `frame` is None."""

    path: str
    frame: int | None = None

    @classmethod
    def parse(cls, text: str) -> StyleReference:
        """Parse the CLI form `PATH` or `FRAME=PATH` (`1001=painted_1001.exr`)."""
        head, sep, tail = text.partition("=")
        if sep and head.strip().lstrip("-").isdigit():
            if not tail:
                raise SpecError(f"style reference {text!r} names frame {head} but no file")
            return cls(path=tail, frame=int(head))
        return cls(path=text, frame=None)


@dataclass(frozen=True)
class ColourSettings:
    """How plate pixels travel into the engine's display-referred space and back."""

    config: str | None = None
    """OCIO config file or `ocio://` name; None means `$OCIO`, else the bundled config."""
    input_space: str | None = None
    """Colour space of the plate; None means the config's `scene_linear` role."""
    encoding: str = "srgb"
    """Engine-facing encoding: `srgb` (looks like a display image) or `acescct` (log)."""


@dataclass(frozen=True)
class OutputSettings:
    """Where results go. `pattern` None means frames are returned inline (server transport)."""

    pattern: str | None = None
    compression: str | None = None
    """EXR compression; None keeps a lossless input compression and replaces a lossy one with zip."""
    resume: bool = True
    """Skip frames already written by a job with the same content hash."""


@dataclass(frozen=True)
class JobSpec:
    """Everything that defines a restyle. Construct with keyword arguments; it validates itself."""

    plate: str
    frames: str
    engine: str = "keyframe"
    params: Mapping[str, Any] = field(default_factory=dict)
    styles: tuple[StyleReference, ...] = ()
    colour: ColourSettings = field(default_factory=ColourSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    proxy: float = 1.0
    """Engine resolution as a fraction of the plate (look development); results are scaled back."""
    mask: str | None = None
    """Restyle only inside this matte: a channel of the plate (`A`, `matte.R`) or a file pattern."""
    layer: str = ""
    """The plate layer that is restyled; "" is the main R, G, B (A) layer."""
    guides: Mapping[str, str] = field(default_factory=dict)
    """Structure guides for engines that take them: name -> source (`depth` -> `depth.Z`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen_mapping(self.params))
        object.__setattr__(self, "guides", _frozen_mapping(self.guides))
        object.__setattr__(self, "styles", tuple(self.styles))
        if not self.plate:
            raise SpecError("job has no plate pattern")
        if not str(self.frames).strip():
            raise SpecError("job has no frame range (for example 1001-1024)")
        if not self.engine:
            raise SpecError("job names no engine")
        object.__setattr__(self, "proxy", float(self.proxy))  # 1 and 1.0 are one job
        if not 0.05 <= self.proxy <= 1.0:
            raise SpecError(f"proxy scale {self.proxy} must lie between 0.05 and 1.0")
        if self.colour.encoding not in ENCODINGS:
            raise SpecError(f"colour encoding {self.colour.encoding!r} is not one of {', '.join(ENCODINGS)}")
        if self.mask:
            _check_sequence_source("mask", self.mask, "matte.####.exr")
        for name, source in self.guides.items():
            _check_sequence_source(f"guide {name!r}", source, f"{name}.####.png")

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "plate": self.plate,
            "frames": str(self.frames),
            "engine": self.engine,
            "params": dict(self.params),
            "styles": [{"path": s.path, "frame": s.frame} for s in self.styles],
            "colour": {
                "config": self.colour.config,
                "input_space": self.colour.input_space,
                "encoding": self.colour.encoding,
            },
            "output": {
                "pattern": self.output.pattern,
                "compression": self.output.compression,
                "resume": self.output.resume,
            },
            "proxy": self.proxy,
            "mask": self.mask,
            "layer": self.layer,
            "guides": dict(self.guides),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        data = _upgrade(dict(data))
        known = {f.name for f in fields(cls)} | {"schema"}
        unknown = sorted(set(data) - known)
        if unknown:
            shown = ", ".join(_shown(name) for name in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            raise SpecError(f"job spec has unknown fields: {shown}")
        check_shape(data)
        try:
            return cls(
                plate=data["plate"],
                frames=str(data["frames"]),
                engine=data.get("engine", "keyframe"),
                params=data.get("params") or {},
                styles=tuple(
                    StyleReference(path=s["path"], frame=s.get("frame")) for s in data.get("styles", [])
                ),
                colour=ColourSettings(**(data.get("colour") or {})),
                output=OutputSettings(**(data.get("output") or {})),
                proxy=float(data.get("proxy", 1.0)),
                mask=data.get("mask"),
                layer=data.get("layer", ""),
                guides=data.get("guides") or {},
            )
        except KeyError as exc:
            raise SpecError(f"job spec lacks the field {exc.args[0]!r}") from None
        except TypeError as exc:
            raise SpecError(f"job spec is malformed: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"job spec is {len(text)} bytes long; the limit is {MAX_SPEC_BYTES}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"job spec is not valid JSON: {exc}") from None
        except RecursionError:
            raise SpecError("job spec JSON is nested too deeply") from None
        if not isinstance(data, dict):
            raise SpecError("job spec JSON must be an object")
        return cls.from_dict(data)

    def with_changes(self, **changes: Any) -> JobSpec:
        return replace(self, **changes)

    def pixel_hash(self, style_digests: Mapping[str, str] | None = None) -> str:
        """Hash of the settings that decide the output pixels: not where the plate lies, which frames
        are asked for, or where they are written.

        `style_digests` maps each style reference path to the digest of its file content, so a
        re-pass against an updated painting changes the hash while a moved file does not. The
        plate's content is not in it: each output frame's resume key adds the content of the plate
        frames it is made from (`stylelock.server.resume`).
        """
        data = self.to_dict()
        data.pop("output")
        data.pop("frames")
        data.pop("plate")
        # mask and guide file sequences count by content, frame by frame, in each frame's resume key
        if self.mask and names_files(self.mask):
            data["mask"] = "files"
        data["guides"] = {name: "files" if names_files(s) else s for name, s in self.guides.items()}
        data["styles"] = [
            {"frame": s.frame, "digest": (style_digests or {}).get(s.path, s.path)} for s in self.styles
        ]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _check_sequence_source(what: str, source: str, example: str) -> None:
    """A mask or guide source that names files must name one per frame (a frame token)."""
    if names_files(source) and not has_frame_token(source):
        raise SpecError(
            f"{what} {source!r} names a file but no frame number; give a sequence like {example} "
            "(one image per frame) or a plate channel"
        )


def register_upgrade(
    from_label: str, to_label: str, function: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Register how a serialised spec labelled `from_label` becomes `to_label`."""
    _UPGRADES[from_label] = (to_label, function)


def _shown(text: str, limit: int = 40) -> str:
    """A name from a spec as a message shows it: as it is when short and printable, else quoted and
    escaped to printable ASCII (one line), at most `limit` characters."""
    if len(text) <= limit and text.isascii() and text.isprintable() and text.strip() == text and text:
        return text
    quoted = ascii(text[:limit])
    return quoted if len(quoted) <= limit and len(text) <= limit else quoted[: limit - 4] + "...'"


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    label = data.get("schema", SCHEMA)
    if not isinstance(label, str):
        raise SpecError(f"job spec field schema must be text, got {type(label).__name__}")
    seen = set()
    while label != SCHEMA:
        if label in seen or label not in _UPGRADES:
            raise SpecError(f"job spec schema {_shown(label)} is not supported (this version reads {SCHEMA})")
        seen.add(label)
        label, function = _UPGRADES[label]
        data = function(data)
        data["schema"] = label
    return data
