"""Shared test setup: tests/ holds importable helpers (exr_fixtures, tiny_models, pipeline_engines)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
