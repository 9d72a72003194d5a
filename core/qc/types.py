"""The result of `stylelock qc`: thresholds, checks, per-frame measurements and the JSON form."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from stylelock.core.errors import EXIT_CODES, SpecError
from stylelock.core.metrics import FrameInvented, FrameTemporal, Palette, TermSummary
from stylelock.core.sequence import format_frames

QC_THRESHOLD_EXCEEDED = 10

assert EXIT_CODES[QC_THRESHOLD_EXCEEDED] == "a QC threshold was exceeded or could not be measured"

#: The invented-structure bar (`QcThresholds.max_invented`), per cent of the frame, worst frame: paint
#: carried along the motion scores 0 on the constructed plates (tests/moving_object.py) and the
#: demo; a wake a viewer sees covers a growing band (0.70 % of the 960x540 demo by its last frame
#: with the engine of commit 060187c), a stray pixel or two does not count at all.
INVENTED_BAR = 0.5


@dataclass(frozen=True)
class QcThresholds:
    """Limits a pipeline gates on; None leaves a metric reported but unchecked."""

    max_warp_ratio: float | None = None
    """Short-term (k=1) warp-error ratio, output over plate, low-passed at 1 px: over the shot and
    over its worst run of frames (DESIGN bar: 1.25)."""
    max_long_warp_ratio: float | None = None
    """Long-term (k=10) ratio, likewise (DESIGN bar: 1.5)."""
    max_delta_e: float | None = None
    """Mean palette drift over the frames, CIEDE2000 (DESIGN bar: 2.0)."""
    max_keyframe_delta_e: float | None = None
    """Mean CIEDE2000 of the output at a painted keyframe against the paint, worst keyframe (bar: 1.0)."""
    min_texture_ratio: float | None = None
    """Carried fine texture: each output frame's fine-texture energy over its keyframe paint's, on the
    surfaces that keyframe saw (`stylelock.core.metrics.invented`), worst frame (bar: 0.85)."""
    max_invented: float | None = None
    """Invented structure, per cent of the frame, worst frame (`stylelock.core.metrics.invented`)."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and not (math.isfinite(value) and value > 0):
                raise SpecError(
                    f"QC threshold {name.replace('_', '-')} must be a positive number, not {value}"
                )


#: The picture's bars: the design's warp-error and palette bars, and the painted keyframe's
#: fidelity, carried texture and invented structure. What `stylelock demo` and the keyframe QC
#: bench (bench/keyframe_qc.py) gate on.
PICTURE_BARS = QcThresholds(
    max_warp_ratio=1.25,
    max_long_warp_ratio=1.5,
    max_delta_e=2.0,
    max_keyframe_delta_e=1.0,
    min_texture_ratio=0.85,
    max_invented=INVENTED_BAR,
)


@dataclass(frozen=True)
class QcCheck:
    name: str
    value: float | None
    """None when the metric could not be measured (e.g. a single frame has no warp error)."""
    limit: float | None
    passed: bool
    reason: str | None = None
    """Why a gated metric could not be measured (it then fails: a gate the user asked for never
    passes unmeasured); None when it was measured."""
    bound: str = "max"
    """"max": the value must not exceed the limit; "min": it must reach it."""


@dataclass(frozen=True)
class QcFrame:
    frame: int
    temporal: FrameTemporal
    palette_drift: float
    plate_nan: int
    plate_inf: int
    output_nan: int
    output_inf: int
    invented: FrameInvented | None = None
    texture_ratio: float | None = None
    """Carried fine texture (`FrameInvented.texture_ratio`): what the gate judges; None when not measured."""
    texture_ratio_whole_frame: float | None = None
    """Whole-frame fine-texture energy over the nearest painted keyframe's (reported beside the
    carried ratio; moved by textured content leaving or entering the frame); None without one."""
    keyframe_delta_e: float | None = None
    """At a painted keyframe: mean CIEDE2000 of the output against the paint."""


@dataclass
class QcReport:
    plate: str
    output: str
    frames: list[int]
    analysis_size: tuple[int, int]
    colour: dict
    temporal: dict[str, TermSummary]
    palette_reference: str
    reference_palette: Palette
    per_frame: list[QcFrame]
    thresholds: QcThresholds
    checks: list[QcCheck]
    notes: list[str] = field(default_factory=list)
    json_path: str | None = None
    html_path: str | None = None
    keyframes: list[int] = field(default_factory=list)
    """The painted keyframes inside the range (what fidelity, texture and invention compare with)."""

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else QC_THRESHOLD_EXCEEDED

    @property
    def flow_sources(self) -> list[str]:
        return sorted({s for term in self.temporal.values() for s in term.flow_sources})

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None."""
        drifts = [f.palette_drift for f in self.per_frame]
        worst = int(np.argmax(drifts)) if drifts else None
        data = {
            "schema": "stylelock.qc.1",
            "passed": self.passed,
            "exit_code": self.exit_code,
            "plate": self.plate,
            "output": self.output,
            "frames": self.frames,
            "frame_range": format_frames(self.frames),
            "analysis_size": list(self.analysis_size),
            "colour": self.colour,
            "flow_sources": self.flow_sources,
            "thresholds": asdict(self.thresholds),
            "checks": [asdict(c) for c in self.checks],
            "temporal": {name: term.to_dict() for name, term in self.temporal.items()},
            "palette": {
                "reference": self.palette_reference,
                "reference_palette": self.reference_palette.to_dict(),
                "mean_drift": float(np.mean(drifts)) if drifts else None,
                "max_drift": float(np.max(drifts)) if drifts else None,
                "worst_frame": self.per_frame[worst].frame if worst is not None else None,
            },
            "keyframes": self.keyframes,
            "fidelity": {
                str(f.frame): f.keyframe_delta_e for f in self.per_frame if f.keyframe_delta_e is not None
            },
            "texture": _extreme([(f.frame, f.texture_ratio) for f in self.per_frame], lowest=True),
            "texture_carried_paint": _extreme(
                [
                    (f.frame, f.invented.carried_paint_texture_ratio if f.invented else None)
                    for f in self.per_frame
                ],
                lowest=True,
            ),
            "texture_whole_frame": _extreme(
                [(f.frame, f.texture_ratio_whole_frame) for f in self.per_frame], lowest=True
            ),
            "invented": _extreme(
                [(f.frame, f.invented.fraction if f.invented else None) for f in self.per_frame], lowest=False
            ),
            "nonfinite": {
                "plate": {
                    "nan": sum(f.plate_nan for f in self.per_frame),
                    "inf": sum(f.plate_inf for f in self.per_frame),
                },
                "output": {
                    "nan": sum(f.output_nan for f in self.per_frame),
                    "inf": sum(f.output_inf for f in self.per_frame),
                },
            },
            "per_frame": [
                {
                    "frame": f.frame,
                    "temporal": {k: v for k, v in f.temporal.to_dict().items() if k != "frame"},
                    "palette_drift": f.palette_drift,
                    "invented": f.invented.to_dict() if f.invented else None,
                    "texture_ratio": f.texture_ratio,
                    "texture_ratio_whole_frame": f.texture_ratio_whole_frame,
                    "keyframe_delta_e": f.keyframe_delta_e,
                    "nan": {"plate": f.plate_nan, "output": f.output_nan},
                    "inf": {"plate": f.plate_inf, "output": f.output_inf},
                }
                for f in self.per_frame
            ],
            "notes": self.notes,
            "json_path": self.json_path,
            "html_path": self.html_path,
        }
        return _json_safe(data)


def _extreme(values: list[tuple[int, float | None]], *, lowest: bool) -> dict:
    """Mean and worst (lowest or highest) of per-frame values, and the worst frame; None when none."""
    measured = [(n, v) for n, v in values if v is not None and math.isfinite(v)]
    if not measured:
        return {"mean": None, "worst": None, "worst_frame": None}
    frame, worst = (min if lowest else max)(measured, key=lambda fv: fv[1])
    return {"mean": float(np.mean([v for _, v in measured])), "worst": worst, "worst_frame": frame}


def _json_safe(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value
