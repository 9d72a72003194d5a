"""The in-memory form of an EXR file: parts, channels in their native types, windows, header.

Pure data and numpy: nothing here imports OpenImageIO, so hosts and the thin client can hold and
inspect these objects cheaply. Reading and writing live in `exr_read` and `exr_write`; the public
entry point is `stylelock.core.exr`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stylelock.core.errors import SpecError

#: EXR pixel types as OpenImageIO names them, and the numpy dtype each is held in.
NATIVE_DTYPES: dict[str, np.dtype] = {
    "half": np.dtype(np.float16),
    "float": np.dtype(np.float32),
    "uint": np.dtype(np.uint32),
}
FORMAT_OF_DTYPE: dict[np.dtype, str] = {dtype: name for name, dtype in NATIVE_DTYPES.items()}

#: The colour channel names of a layer, in the order `rgb()` returns them.
RGB_NAMES = ("R", "G", "B")


@dataclass(frozen=True)
class Window:
    """An OIIO/EXR window in pixels: origin (x, y) of the top-left pixel and size."""

    x: int
    y: int
    width: int
    height: int


def layer_prefix(layer: str) -> str:
    """The channel-name prefix of a layer: "" for the unprefixed layer, "diffuse." for "diffuse"."""
    return f"{layer}." if layer else ""


@dataclass
class ExrPart:
    """One subimage (part) of an EXR file.

    `pixels` holds the data window, one (height, width) array per channel in the channel's native
    dtype (float16, float32, uint32). Arrays read from a file may be strided views into one buffer
    per run of same-typed channels; copy before handing them to code that needs contiguity.
    """

    channels: list[str]
    """Channel names in the order OpenImageIO presents them (R, G, B, A first, then the rest)."""
    pixels: dict[str, np.ndarray]
    data_window: Window
    display_window: Window
    pixel_aspect: float
    compression: str
    """As OIIO names it: "zip", "piz", "dwaa", "none", ... (a level suffix such as "dwaa:45" allowed)."""
    tile_size: tuple[int, int] | None
    """(tile width, tile height), or None for a scanline part."""
    attributes: dict[str, Any]
    """Every other header attribute, as Python values (see `stylelock.core.exr` for what is left out)."""
    name: str | None = None
    """The part name of a multipart file."""
    attribute_types: dict[str, str] = field(default_factory=dict)
    """OIIO type of each attribute as read ("matrix", "timecode", "INT/VEC2/NOXFORM/0", ...): lets
    `write_exr` write a matrix back as a matrix and a timecode as a timecode. Attributes without an
    entry (added by code) get a type inferred from their Python value."""
    channel_formats: dict[str, str] = field(default_factory=dict)
    """Native type of each channel ("half", "float", "uint"), filled by header-only reads too."""

    @property
    def height(self) -> int:
        return self.data_window.height

    @property
    def width(self) -> int:
        return self.data_window.width

    def channel_format(self, name: str) -> str:
        """The native type of channel `name`: from its pixels when present, else from the header."""
        array = self.pixels.get(name)
        if array is not None and array.dtype in FORMAT_OF_DTYPE:
            return FORMAT_OF_DTYPE[array.dtype]
        if name in self.channel_formats:
            return self.channel_formats[name]
        raise SpecError(f"channel {name!r} is not in this part; it has {', '.join(self.channels)}")

    def rgb_layers(self) -> list[str]:
        """Layers that have all of R, G and B ("" is the unprefixed layer), in channel order."""
        names = set(self.channels)
        layers: list[str] = []
        for channel in self.channels:
            layer, _, last = channel.rpartition(".")
            if last == "R" and layer not in layers:
                prefix = layer_prefix(layer)
                if all(prefix + c in names for c in RGB_NAMES):
                    layers.append(layer)
        return layers

    def _layer_names(self, layer: str) -> tuple[str, str, str]:
        prefix = layer_prefix(layer)
        names = tuple(prefix + c for c in RGB_NAMES)
        missing = [n for n in names if n not in self.pixels]
        if missing:
            available = ", ".join(repr(layer) for layer in self.rgb_layers()) or "none"
            what = f"layer {layer!r}" if layer else "the unprefixed layer"
            raise SpecError(
                f"{what} has no {', '.join(missing)} channel(s); layers with RGB in this part: {available}"
            )
        return names  # type: ignore[return-value]

    def rgb(self, layer: str = "") -> np.ndarray:
        """A (height, width, 3) float32 copy of the layer's R, G, B ("" = unprefixed R, G, B)."""
        names = self._layer_names(layer)
        out = np.empty((self.height, self.width, 3), dtype=np.float32)
        for index, name in enumerate(names):
            out[..., index] = self.pixels[name]
        return out

    def alpha(self, layer: str = "") -> np.ndarray | None:
        """The layer's A channel as a (height, width) float32 copy, or None when it has none."""
        values = self.pixels.get(layer_prefix(layer) + "A")
        return None if values is None else values.astype(np.float32)

    def channel_float(self, name: str) -> np.ndarray:
        """Any channel as (height, width) float32: the array itself when it is float32, else a copy.

        uint32 channels (IDs) above 2**24 do not survive this conversion; use `pixels[name]`.
        """
        values = self.pixels.get(name)
        if values is None:
            raise SpecError(f"channel {name!r} is not in this part; it has {', '.join(self.channels)}")
        if values.dtype == np.float32:
            return values
        return values.astype(np.float32)


@dataclass
class ExrImage:
    """A whole EXR file: its parts in file order."""

    parts: list[ExrPart]
    path: str | None = None

    @property
    def main(self) -> ExrPart:
        """The part holding the unprefixed R, G, B (the beauty), else the first part."""
        for part in self.parts:
            names = set(part.channels)
            if all(c in names for c in RGB_NAMES):
                return part
        if not self.parts:
            raise SpecError(
                f"EXR image {self.path!r} has no parts" if self.path else "EXR image has no parts"
            )
        return self.parts[0]

    def channels_beside(self, part: ExrPart) -> dict[str, np.ndarray]:
        """The channels of the other parts with `part`'s data window, as float32 by name.

        A multipart file may keep a frame's passes in parts of their own: Blender 5 writes each pass
        of a multilayer render as a part (`ViewLayer.Combined`, `ViewLayer.Depth`,
        `ViewLayer.Vector`, ...). These are the same frame's AOVs as the channels beside RGB in a
        single-part file. Names `part` already has, and parts of another size, are left out.
        """
        found: dict[str, np.ndarray] = {}
        for other in self.parts:
            if other is part or other.data_window != part.data_window:
                continue
            for name in other.channels:
                if name in other.pixels and name not in part.pixels and name not in found:
                    found[name] = other.channel_float(name)
        return found
