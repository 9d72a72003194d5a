"""The look-development job: a few frames around the current one, small and fast.

Hosts offer a Preview next to Restyle: it restyles the current frame and `around` frames each side
(clipped to the job's range) at proxy resolution with the engine's fast mode, the parameter values
the engine publishes as `preview_params` (the keyframe engine's StyleBlit mode, fewer diffusion
steps), into the node's preview folder. It is the same job otherwise, so what the artist judges is
what the full render will do, only coarser.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stylelock.core.errors import SpecError
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.core.sequence import format_frames, parse_frames

#: Engine resolution of a preview, as a fraction of the plate's.
PREVIEW_PROXY = 0.5
#: Frames restyled each side of the current one.
PREVIEW_AROUND = 2


def preview_spec(
    spec: JobSpec,
    frame: int,
    engine: Mapping[str, Any],
    output_pattern: str,
    *,
    around: int = PREVIEW_AROUND,
    proxy: float = PREVIEW_PROXY,
) -> JobSpec:
    """`spec` cut to the frames around `frame`, at `proxy` size in `engine`'s fast mode."""
    window = preview_window(parse_frames(spec.frames), frame, around)
    params = dict(spec.params)
    params.update(engine.get("preview_params") or {})
    return spec.with_changes(
        frames=format_frames(window),
        params=params,
        proxy=min(spec.proxy, proxy),
        output=OutputSettings(output_pattern, spec.output.compression, resume=True),
    )


def preview_window(frames: list[int], frame: int, around: int = PREVIEW_AROUND) -> list[int]:
    """`frame` and up to `around` frames of `frames` each side of it (what a preview renders)."""
    if frame not in frames:
        expression = format_frames(frames) if frames else "(none)"
        raise SpecError(f"frame {frame} is outside the job's range {expression}; move to a frame inside it")
    index = frames.index(frame)
    return frames[max(0, index - around) : index + around + 1]
