"""From a host panel's settings to the job spec, the same way for every host.

A host gathers `PanelSettings` from its UI (knobs, properties), renders what the job reads into its
`CacheLayout` (the plate range, a style input at its keyframe frames), and calls `build_spec`.
Everything that decides the job is here, so Nuke, Blender and the CLI describe the same job for the
same settings, and their outputs carry the same resume keys byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stylelock.core import temporal
from stylelock.core.errors import SpecError
from stylelock.core.hosts.cache import CacheLayout
from stylelock.core.hosts.fields import ParamField, job_params
from stylelock.core.hosts.styles import parse_style_rows
from stylelock.core.jobspec import ColourSettings, JobSpec, OutputSettings, StyleReference
from stylelock.core.sequence import FramePattern, format_frames, parse_frames

DEFAULT_SERVER = "127.0.0.1:50151"


@dataclass(frozen=True)
class PanelSettings:
    """What a host's StyleLock panel holds, host-agnostic."""

    engine: str
    frames: str
    """A range expression (`1001-1024`, `1001-1100x2`)."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """The engine's parameter values as the panel shows them (`fields.SavedValues.values_for`)."""
    style_rows: str = ""
    """Painted keyframes and look images, one per line (`styles.parse_style_rows`)."""
    style_input_frames: Sequence[int] = ()
    """Frames at which the host rendered its style input into the cache (painted keyframes)."""
    colorspace: str = ""
    """The plate's colour space ("" = the config's scene_linear role)."""
    ocio_config: str = ""
    """An OCIO config the server should use ("" = its own)."""
    layer: str = ""
    """The layer to restyle ("" or `rgba` = the main RGB)."""
    proxy: float = 1.0
    server: str = DEFAULT_SERVER


def style_references(settings: PanelSettings, layout: CacheLayout) -> tuple[StyleReference, ...]:
    """The panel's rows plus the style input rendered at its frames; at least one is needed."""
    rows = parse_style_rows(settings.style_rows)
    rendered = FramePattern.parse(layout.style_pattern)
    inputs = tuple(StyleReference(rendered.path(f), f) for f in settings.style_input_frames)
    taken = {s.frame for s in inputs}
    clash = [s.frame for s in rows if s.frame is not None and s.frame in taken]
    if clash:
        raise SpecError(f"frame {clash[0]} is painted both by the style input and by a style row; keep one")
    return inputs + rows


def build_spec(settings: PanelSettings, layout: CacheLayout, fields: Sequence[ParamField]) -> JobSpec:
    """The job for these settings: the cached plate in, the node's restyle folder out."""
    frames = parse_frames(settings.frames)  # a SpecError names a malformed range
    if not frames:
        raise SpecError("the frame range is empty")
    layer = "" if settings.layer in ("", "rgba", "rgb") else settings.layer
    return JobSpec(
        plate=layout.plate_pattern,
        frames=format_frames(frames),
        engine=settings.engine,
        params=job_params(fields, settings.values),
        styles=style_references(settings, layout),
        colour=ColourSettings(config=settings.ocio_config or None, input_space=settings.colorspace or None),
        output=OutputSettings(pattern=layout.output_pattern),
        proxy=settings.proxy,
        layer=layer,
    )


def frames_to_render(
    spec: JobSpec, engine: Mapping[str, Any], fields: Sequence[ParamField], shot_frames: Sequence[int]
) -> list[int]:
    """The plate frames a host must render for `spec`: what the engine's temporal contract says its
    frames are made from (`stylelock.core.temporal`), within the shot the host has (`shot_frames`,
    the upstream range). A frame the contract needs outside the shot is a clear error."""
    params = {field.name: field.default for field in fields} | dict(spec.params)
    kind = str(engine.get("temporal") or temporal.SHOT)
    style_frames = [style.frame for style in spec.styles]
    needed = temporal.job_inputs(kind, parse_frames(spec.frames), shot_frames, style_frames, params)
    outside = sorted(set(needed) - set(shot_frames))
    if outside:
        raise SpecError(
            f"the {spec.engine} job needs plate frame {outside[0]}, outside the input's range "
            f"{format_frames(shot_frames)} (a keyframe or frame range beyond the input?)"
        )
    return needed
