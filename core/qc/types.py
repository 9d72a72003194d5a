"""The result of `stylelock qc`: thresholds, checks, per-frame measurements and the JSON form."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from stylelock.core.errors import EXIT_CODES, SpecError
from stylelock.core.metrics import FrameTemporal, Palette, TermSummary
from stylelock.core.sequence import format_frames

QC_THRESHOLD_EXCEEDED = 10
assert EXIT_CODES[QC_THRESHOLD_EXCEEDED] == "a QC threshold was exceeded or could not be measured"


@dataclass(frozen=True)
class QcThresholds:
    """Limits a pipeline gates on; None leaves a metric reported but unchecked."""

    max_warp_ratio: float | None = None
    """Short-term (k=1) warp-error ratio, output over plate (DESIGN bar: 1.25)."""
    max_long_warp_ratio: float | None = None
    """Long-term (k=10) ratio (DESIGN bar: 1.5)."""
    max_delta_e: float | None = None
    """Mean palette drift over the frames, CIEDE2000 (DESIGN bar: 2.0)."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and not (math.isfinite(value) and value > 0):
                raise SpecError(
                    f"QC threshold {name.replace('_', '-')} must be a positive number, not {value}"
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


@dataclass(frozen=True)
class QcFrame:
    frame: int
    temporal: FrameTemporal
    palette_drift: float
    plate_nan: int
    plate_inf: int
    output_nan: int
    output_inf: int


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
