"""The engine interface: the one small contract every restyling engine implements.

The pipeline hands an engine frames already decoded, checked for NaN/Inf and encoded into the
engine's display-referred "model space": float32 RGB in [0, 1] that looks like a normal picture.
The engine yields one styled frame per input, in order, and never sees scene-linear values, file
formats or colour configs. Alpha and every other plate channel are offered as guides only: what
the engine returns replaces RGB alone, so alpha and AOVs leave the pipeline bit-exact.

Engines are long-lived (a server keeps models warm between jobs): construction loads nothing
heavy; `restyle` is called once per job with that job's `ShotContext`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from stylelock.core import temporal as temporal_contract
from stylelock.core.params import ParamSchema


@dataclass
class ModelFrame:
    """One plate frame in model space, at engine resolution."""

    number: int
    rgb: np.ndarray
    """(H, W, 3) float32 in [0, 1], unpremultiplied, finite."""
    alpha: np.ndarray | None = None
    """(H, W) float32 in [0, 1], or None when the plate has no alpha."""
    aovs: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Every other channel of the plate, by full name (`depth.Z`, `forward.u`), as (H, W) float32.
    Values are the plate's own (scene-linear, pixel units for vectors), only resized."""
    scale: float = 1.0
    """Engine resolution over plate resolution (the proxy factor): multiply pixel-unit vectors by it."""

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


@dataclass
class StyleFrame:
    """A locked style reference decoded into model space at engine resolution."""

    rgb: np.ndarray
    """(H, W, 3) float32 in [0, 1]. A paint-over has the plate's engine resolution; a look image keeps
    its own size."""
    alpha: np.ndarray | None
    frame: int | None
    """The plate frame this paint-over belongs to, or None for a look image (painting, look frame)."""
    digest: str
    """Content hash of the reference file (provenance and caching)."""


@dataclass
class ShotContext:
    """What an engine knows about the job it restyles."""

    job_id: str
    frames: tuple[int, ...]
    """All frame numbers of the job, in the order they will be streamed."""
    styles: tuple[StyleFrame, ...]
    params: Mapping[str, Any]
    """Validated against the engine's schema, defaults filled in."""
    load_frame: Callable[[int], ModelFrame]
    """Random access to any plate frame in model space (for backward passes and anchors). It reads
    from disk each call: engines keep what they reuse."""
    guides: Mapping[str, str] = field(default_factory=dict)
    device: str = "cpu"
    plate_frames: tuple[int, ...] = ()
    """Every frame number of the plate sequence present on disk, ascending: the whole shot, of which
    the job (a farm chunk, a resumed job) may hold only some frames. Engines measure shot-wide
    quantities (a depth guide's value range) over these, so a chunk matches the unchunked run.
    Empty means unknown (a context built by hand): use `plate_or_job_frames`. An inline gRPC job's
    plate is the server's spool of the uploaded frames, so there it is the job's frames."""
    open_path: Callable[[str, str], str] = lambda path, what: path
    """Call on a file the engine opens itself (a guide image), with what it is, just before opening
    it: on a server it checks the path against the allowed roots where it is opened (a file swapped
    for a symlink after submit is refused), and returns the path to open."""
    is_cancelled: Callable[[], bool] = lambda: False
    warn: Callable[[str], None] = lambda message: None
    log: logging.Logger | logging.LoggerAdapter = field(
        default_factory=lambda: logging.getLogger("stylelock.engine")
    )

    @property
    def plate_or_job_frames(self) -> tuple[int, ...]:
        """`plate_frames` when known, else the job's frames, ascending: the frames that stand for
        the whole shot."""
        return self.plate_frames or tuple(sorted(set(self.frames)))


@dataclass(frozen=True)
class ShotPlan:
    """What an engine's temporal contract is judged on, known before any frame is decoded."""

    plate_frames: tuple[int, ...]
    """Every plate frame of the shot, ascending (as `ShotContext.plate_or_job_frames`)."""
    style_frames: tuple[int | None, ...]
    """The plate frame of each style reference, None for a look image."""
    params: Mapping[str, Any]
    """Validated, defaults filled in."""


class Engine(ABC):
    """Base class of all engines. Subclasses set the class attributes and implement `restyle`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[ParamSchema] = ParamSchema()
    needs_style: ClassVar[bool] = False
    """True when a job without a style reference is a spec error for this engine."""
    warmup_frames: ClassVar[int] = 0
    """How many frames before the first one to produce the engine re-runs (without writing) so a
    chunk or a resumed job continues exactly as the unchunked run would."""

    version: ClassVar[str] = "1"
    """Raise it when the engine's output for the same inputs changes: every resume key changes."""
    preview_params: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    """Parameter values of the engine's fast mode, which hosts use for look-development previews."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    temporal: ClassVar[str] = temporal_contract.SHOT
    """The engine's temporal contract (`stylelock.core.temporal`): which plate frames decide an
    output frame. `shot`, the default, is always safe; an engine that reads less says so (`frame`,
    `keyframes`), so replacing one plate frame redoes fewer frames and hosts render fewer. The
    contract is data, published with the schema, so the server's resume keys and every host agree:
    an engine chooses a kind, it does not compute its own."""

    @abstractmethod
    def restyle(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
        """Consume `frames` in order and yield one styled (H, W, 3) float32 [0, 1] array per frame,
        in the same order. An engine may read ahead (windows, batches) before yielding. It checks
        `shot.is_cancelled()` between frames (or diffusion steps) and simply stops when it is set."""

    def identity(self, params: Mapping[str, Any], guides: Mapping[str, str]) -> str:
        """What identifies the model files a job with these parameters loads (names, sizes, times),
        for resume keys: replacing a model redoes its frames. "" for an engine without model files."""
        return ""

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing to free
        """Release device memory and loaded models."""

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "summary": cls.summary,
            "needs_style": cls.needs_style,
            "warmup_frames": cls.warmup_frames,
            "params": cls.params.to_list(),
            "preview_params": dict(cls.preview_params),
            "temporal": cls.temporal,
        }
