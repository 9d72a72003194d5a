"""Style references as a host's panel holds them: one row per line.

    1001=/shows/x/paint/paint.1001.exr     a painted keyframe of plate frame 1001
    1040=/shows/x/paint/paint.1040.exr
    /refs/look.png                         a look image (no frame)
    # a comment; blank lines are ignored

Errors name the row, so an artist can find it in a multi-line knob.
"""

from __future__ import annotations

from collections.abc import Iterable

from stylelock.core.errors import SpecError
from stylelock.core.jobspec import StyleReference


def parse_style_rows(text: str) -> tuple[StyleReference, ...]:
    """The style references of a panel's rows (see the module docstring)."""
    styles: list[StyleReference] = []
    seen: dict[int, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        row = raw.strip()
        if not row or row.startswith("#"):
            continue
        try:
            style = StyleReference.parse(row)
        except SpecError as exc:
            raise SpecError(f"style row {number}: {exc.message}") from None
        path = style.path.strip().strip('"').strip("'")
        if not path:
            raise SpecError(f"style row {number} ({row!r}) names no file")
        if style.frame is not None:
            if style.frame in seen:
                raise SpecError(
                    f"style rows {seen[style.frame]} and {number} both paint frame {style.frame}; keep one"
                )
            seen[style.frame] = number
        styles.append(StyleReference(path, style.frame))
    return tuple(styles)


def format_style_rows(styles: Iterable[StyleReference]) -> str:
    """The rows for `styles`, as `parse_style_rows` reads them."""
    return "\n".join(s.path if s.frame is None else f"{s.frame}={s.path}" for s in styles)
