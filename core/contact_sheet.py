"""Contact sheets: a grid of labelled thumbnails written as PNG, for eyes rather than metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stylelock.core.errors import OutputError


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Display-referred float [0, 1] RGB -> 8-bit RGB."""
    return (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_contact_sheet(
    path: str | Path,
    rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
    *,
    thumb_width: int = 240,
    gap: int = 6,
) -> Path:
    """Write rows of (row label, [(cell label, display-referred RGB image)]) as one PNG.

    Every cell is scaled to `thumb_width` keeping its aspect; cells of one row share a height.
    """
    import cv2

    label_width = 110
    rendered_rows = []
    for row_label, cells in rows:
        thumbs = []
        for cell_label, image in cells:
            height = max(1, round(image.shape[0] * thumb_width / image.shape[1]))
            thumb = cv2.resize(to_uint8(image[..., :3]), (thumb_width, height), interpolation=cv2.INTER_AREA)
            thumb = np.ascontiguousarray(thumb[..., ::-1])  # OpenCV draws and writes BGR
            cv2.putText(thumb, cell_label, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3)
            cv2.putText(thumb, cell_label, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
            thumbs.append(thumb)
        row_height = max(t.shape[0] for t in thumbs)
        row = np.full((row_height, label_width + len(thumbs) * (thumb_width + gap), 3), 32, np.uint8)
        cv2.putText(row, row_label, (6, row_height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (230, 230, 230), 1)
        for index, thumb in enumerate(thumbs):
            x = label_width + index * (thumb_width + gap)
            row[: thumb.shape[0], x : x + thumb_width] = thumb
        rendered_rows.append(row)
    width = max(r.shape[1] for r in rendered_rows)
    sheet = np.full((sum(r.shape[0] + gap for r in rendered_rows) + gap, width, 3), 32, np.uint8)
    y = gap
    for row in rendered_rows:
        sheet[y : y + row.shape[0], : row.shape[1]] = row
        y += row.shape[0] + gap
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp.png")
    if not cv2.imwrite(str(temp), sheet):
        temp.unlink(missing_ok=True)
        raise OutputError(f"contact sheet {path} cannot be written")
    temp.replace(path)
    return path
