"""`stylelock qc`: measure a restyled sequence against its plate and gate a pipeline on the result.

- `run` (`run_qc`): reads both sequences, streams them through `stylelock.core.metrics` and
  decides the checks;
- `types`: thresholds, checks, per-frame measurements and the report's JSON form;
- `report`: the self-contained HTML page.
"""

from stylelock.core.qc.run import DEFAULT_ANALYSIS_SIZE, run_qc
from stylelock.core.qc.types import QC_THRESHOLD_EXCEEDED, QcCheck, QcFrame, QcReport, QcThresholds

__all__ = [
    "DEFAULT_ANALYSIS_SIZE",
    "QC_THRESHOLD_EXCEEDED",
    "QcCheck",
    "QcFrame",
    "QcReport",
    "QcThresholds",
    "run_qc",
]
