"""Mattes that limit a restyle to part of the frame (`--mask`).

A mask is either a channel of the plate itself (`A`, `matte.R`) or a sequence of matte files
(`matte.####.exr`; its alpha, else its first channel). Soft values blend the styled frame with
the plate in model space, so outside the matte the plate comes back exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from stylelock.core.errors import SpecError
from stylelock.core.exr import ExrImage, read_exr, read_exr_header
from stylelock.core.paths import names_files
from stylelock.core.sequence import FramePattern


class MaskSource:
    """Where a job's matte comes from, and how to load it for a frame."""

    def __init__(
        self,
        mask: str,
        plate_channels: Sequence[str] | None,
        *,
        open_path: Callable[[str, str], str] = lambda path, what: path,
    ) -> None:
        self.mask = mask
        self.open_path = open_path
        self.pattern = FramePattern.parse(mask) if names_files(mask) else None
        self.plate_channels = list(plate_channels) if plate_channels is not None else None

    def check(self, first_frame: int) -> None:
        """Fail early when the matte cannot exist: a missing channel or a missing first file."""
        if self.pattern is not None:
            read_exr_header(self.pattern.path(first_frame))
        elif self.plate_channels is not None and self.mask not in self.plate_channels:
            raise SpecError(
                f"mask channel {self.mask!r} is not in the plate (channels: "
                f"{', '.join(self.plate_channels)}); give a channel or a matte pattern like matte.####.exr"
            )

    def load(self, frame: int, plate: ExrImage) -> np.ndarray:
        """The (h, w) float32 matte in [0, 1] for `frame`, at the plate's data window size."""
        if self.pattern is None:
            values = plate.main.channel_float(self.mask)
        else:
            part = read_exr(self.open_path(self.pattern.path(frame), "mask frame")).main
            alpha = part.alpha()
            values = alpha if alpha is not None else part.channel_float(part.channels[0])
            want = (plate.main.data_window.height, plate.main.data_window.width)
            if values.shape != want:
                raise SpecError(
                    f"matte {self.pattern.path(frame)} is {values.shape[1]}x{values.shape[0]} but the "
                    f"plate is {want[1]}x{want[0]}"
                )
        return np.clip(np.nan_to_num(values.astype(np.float32), nan=0.0), 0.0, 1.0)
