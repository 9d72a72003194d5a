"""The docs' measured figures are the committed bench results' figures.

A table in docs/ (or README.md) preceded by the line `<!-- figures: bench/results/NAME.json -->`
may print only numbers that NAME.json holds, rounded as the table prints them: every number in its
body rows outside the first column (the row's label) and outside `code spans`. A re-run bench that
moves a figure fails this test until the table is brought up to date; a figure typed from memory
fails it at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- figures: (bench/results/[\w.-]+\.json) -->")
# a number, alone or with a unit suffix a table prints ratios and shares with ("1.22x", "0.69 %", "12%")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?(?=x\b|%|[^\w.]|\.(?!\d)|$)")
PAGES = sorted([*ROOT.glob("docs/**/*.md"), ROOT / "README.md"])


def tables() -> Iterator[tuple[str, str, list[str]]]:
    """(page, result path, body rows) of every marked table."""
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            found = MARKER.search(line)
            if not found:
                continue
            rows = []
            for row in lines[index + 1 :]:
                if not row.startswith("|"):
                    break
                rows.append(row)
            yield str(page.relative_to(ROOT)), found.group(1), rows[2:]  # header and rule left out


def numbers(value: object) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)


def quoted(row: str) -> list[str]:
    cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
    text = " ".join(re.sub(r"`[^`]*`", " ", cell) for cell in cells[1:])
    return NUMBER.findall(text)


def held(figure: str, values: list[float]) -> bool:
    """A value prints as `figure` at the digits it shows (2.4e-4 holds 2.44e-4; 0.93 holds 0.934)."""
    mantissa, _, exponent = figure.partition("e")
    step = 10.0 ** (int(exponent or 0) - len(mantissa.partition(".")[2]))
    return any(abs(value - float(figure)) <= 0.5 * step * (1 + 1e-9) for value in values)


TABLES = list(tables())


def test_the_docs_mark_their_measured_tables() -> None:
    marked = {(page, result) for page, result, _ in TABLES}
    for expected in (
        ("docs/engines/diffusion.md", "bench/results/diffusion_layers.json"),
        ("docs/engines/keyframe.md", "bench/results/keyframe.json"),
        ("docs/engines/keyframe.md", "bench/results/keyframe_qc.json"),
        ("docs/server.md", "bench/results/transport.json"),
    ):
        assert expected in marked, expected


@pytest.mark.parametrize(("page", "result", "rows"), TABLES, ids=[f"{p}:{r}" for p, r, _ in TABLES])
def test_every_figure_in_a_marked_table_is_in_its_result(page: str, result: str, rows: list[str]) -> None:
    assert rows, f"{page}: the table marked with {result} is empty or missing"
    values = list(numbers(json.loads((ROOT / result).read_text(encoding="utf-8"))))
    missing = [(row.split("|")[1].strip(), figure) for row in rows for figure in quoted(row)]
    missing = [(label, figure) for label, figure in missing if not held(figure, values)]
    assert not missing, f"{page} quotes figures {result} does not hold: {missing}"


def test_the_check_catches_a_figure_the_result_lacks() -> None:
    values = [1.566, 0.934, 2062.5]
    assert held("1.57", values) and held("0.93", values) and held("2062.5", values) and held("2062", values)
    assert not held("1.18", values) and not held("0.95", values)
    assert held("2.5e-4", [2.5138e-4]) and not held("2.4e-4", [2.5138e-4]) and held("0", [0.0])
    assert quoted("| one keyframe, `softness 0.7` | 1.18 | 0.93 / 0.61 |") == ["1.18", "0.93", "0.61"]
    assert quoted("| curve | 6.1e-7 `srgb` | **0** |") == ["6.1e-7", "0"]
    assert quoted("| two servers | 1.13x | 0.69 % | 12% |") == ["1.13", "0.69", "12"]
