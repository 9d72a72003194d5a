"""Structure guides for ControlNets, made from the plate: edges, depth and normals.

A job's guides map a ControlNet name to a source (`--guide depth=depth.Z --guide edges`):

- `edges` / `canny` with no source: Canny edges of the model-space frame (what a Canny ControlNet saw
  in training: white lines on black);
- `depth` (source: an AOV channel, default `depth.Z`, `Z` or `depth`): the renderer's depth turned
  into the near-is-bright disparity a depth ControlNet expects, normalised over the whole shot (a
  per-frame range would pump as objects enter and leave);
- `normal` / `normals` (source: a layer, default `N`): the three channels of a normals AOV mapped
  from [-1, 1] to [0, 1];
- any other name: an AOV layer (three channels `.R/.G/.B` or `.X/.Y/.Z`) or channel given as the
  source, normalised over the shot like depth;
- a source that is a frame sequence (`--guide depth=/shots/sh010/depth.####.png`): the user's own
  control images, one per plate frame. 8- and 16-bit images are used as they are; float EXRs are
  normalised over the shot like depth. Resized to the engine's resolution when they differ.

Pure numpy and OpenCV: no torch here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stylelock.core.errors import EngineError
from stylelock.core.flow import to_gray8
from stylelock.core.paths import names_files
from stylelock.server.engines.base import ModelFrame

EDGE_NAMES = ("edges", "canny", "edge")
DEPTH_NAMES = ("depth",)
NORMAL_NAMES = ("normal", "normals")
DEPTH_CHANNELS = ("depth.Z", "Z", "depth", "depth.R")
_TRIPLES = (("X", "Y", "Z"), ("R", "G", "B"), ("x", "y", "z"), ("r", "g", "b"))
SHOT_SAMPLES = 7


@dataclass(frozen=True)
class GuideSpec:
    name: str
    kind: str
    """`edges`, `depth`, `normals`, `channel` (one AOV channel), `layer` (three AOV channels) or
    `sequence` (control images on disk; `channels` holds the pattern)."""
    channels: tuple[str, ...] = ()


def plan_guides(guides: Mapping[str, str], sample: ModelFrame) -> list[GuideSpec]:
    """Resolve each requested guide against the channels the plate carries (checked on one frame)."""
    specs = []
    for name, source in guides.items():
        lowered = name.lower()
        if names_files(source):  # the job spec made sure it has a frame token
            specs.append(GuideSpec(name, "sequence", (source,)))
        elif lowered in EDGE_NAMES and not source:
            specs.append(GuideSpec(name, "edges"))
        elif lowered in NORMAL_NAMES or (source and _triple(sample.aovs, source)):
            layer = source or "N"
            channels = _triple(sample.aovs, layer)
            if channels is None:
                raise EngineError(
                    f"guide {name!r} needs a three-channel AOV {layer!r} (.X/.Y/.Z or .R/.G/.B); "
                    f"the plate has {_listing(sample.aovs)}"
                )
            specs.append(GuideSpec(name, "normals" if lowered in NORMAL_NAMES else "layer", channels))
        else:
            candidates = (source,) if source else DEPTH_CHANNELS if lowered in DEPTH_NAMES else ()
            channel = next((c for c in candidates if c in sample.aovs), None)
            if channel is None:
                wanted = source or (
                    ", ".join(DEPTH_CHANNELS) if lowered in DEPTH_NAMES else "a source channel"
                )
                raise EngineError(
                    f"guide {name!r} needs plate channel {wanted}; the plate has {_listing(sample.aovs)}"
                )
            specs.append(GuideSpec(name, "depth" if lowered in DEPTH_NAMES else "channel", (channel,)))
    return specs


def _triple(aovs: Mapping[str, np.ndarray], layer: str) -> tuple[str, ...] | None:
    for names in _TRIPLES:
        channels = tuple(f"{layer}.{c}" for c in names)
        if all(c in aovs for c in channels):
            return channels
    return None


def _listing(aovs: Mapping[str, np.ndarray]) -> str:
    return ", ".join(sorted(aovs)) or "no channels besides RGB(A)"


@dataclass(frozen=True)
class ShotRange:
    """A value range fixed for the whole shot (1st and 99th percentiles over sampled frames)."""

    low: float
    high: float

    def normalise(self, values: np.ndarray) -> np.ndarray:
        span = max(self.high - self.low, 1e-12)
        return np.clip((values - self.low) / span, 0.0, 1.0).astype(np.float32)


def disparity(depth: np.ndarray) -> np.ndarray:
    """1/Z for finite positive depth, 0 (far) for the sky, zeros and infinities."""
    z = np.asarray(depth, dtype=np.float64)
    good = np.isfinite(z) & (z > 0)
    out = np.zeros(z.shape, dtype=np.float64)
    out[good] = 1.0 / z[good]
    return out


class GuideMaker:
    """Makes each frame's control images; shot-wide ranges are measured once, from sampled frames.

    `frames` are the whole shot's frame numbers, ascending: the plate's frames on disk
    (`ShotContext.plate_or_job_frames`), not only the job's, so that a farm chunk samples the same
    frames as the unchunked run and normalises its guides the same way. A control-image sequence is
    sampled over the frames it has on disk among those (one folder listing), so a sequence that
    covers only part of the plate still serves a job inside that part.
    """

    def __init__(
        self,
        specs: Sequence[GuideSpec],
        frames: Sequence[int],
        load_frame: Callable[[int], ModelFrame],
        size: tuple[int, int],
        canny: tuple[int, int] = (100, 200),
        open_path: Callable[[str, str], str] = lambda path, what: path,
    ) -> None:
        """`size` is the engine's (height, width): control images are read at it, so measuring a
        control sequence's range opens only its own files, never the plate's. `open_path` is the
        shot's check of a file it opens (`ShotContext.open_path`)."""
        self.specs = list(specs)
        self.open_path = open_path
        self.size = size
        self.canny = canny
        self.ranges: dict[str, ShotRange] = {}
        needs_range = [
            s
            for s in self.specs
            if s.kind in ("depth", "channel", "layer") or (s.kind == "sequence" and _is_exr(s.channels[0]))
        ]
        loaded: dict[int, ModelFrame] = {}

        def plate_values(spec: GuideSpec, number: int) -> np.ndarray:
            if number not in loaded:
                loaded[number] = load_frame(number)
            return self._aov_values(spec, loaded[number])

        for spec in needs_range:
            picks = _spread(_range_frames(spec, frames), SHOT_SAMPLES)
            if spec.kind == "sequence":
                values = [read_control_image(spec.channels[0], n, size, open_path) for n in picks]
            else:
                values = [plate_values(spec, n) for n in picks]
            flat = np.concatenate([v.ravel() for v in values])
            flat = flat[np.isfinite(flat)]
            if spec.kind == "depth":
                flat = flat[flat > 0]
            if flat.size == 0:
                raise EngineError(f"guide {spec.name!r}: channel {spec.channels[0]!r} has no usable values")
            low, high = np.percentile(flat, [1.0, 99.0])
            self.ranges[spec.name] = ShotRange(float(low), float(high))

    def control_images(self, frame: ModelFrame) -> dict[str, np.ndarray]:
        """name -> (h, w, 3) float32 [0, 1] control image of `frame`."""
        return {spec.name: self._image(spec, frame) for spec in self.specs}

    def _raw(self, spec: GuideSpec, frame: ModelFrame) -> np.ndarray:
        if spec.kind == "sequence":
            return read_control_image(spec.channels[0], frame.number, self.size, self.open_path)
        return self._aov_values(spec, frame)

    @staticmethod
    def _aov_values(spec: GuideSpec, frame: ModelFrame) -> np.ndarray:
        arrays = [np.asarray(frame.aovs[c], dtype=np.float64) for c in spec.channels]
        if spec.kind == "depth":
            return disparity(arrays[0])
        return np.stack(arrays, axis=-1) if len(arrays) > 1 else arrays[0]

    def _image(self, spec: GuideSpec, frame: ModelFrame) -> np.ndarray:
        if spec.kind == "edges":
            return canny_edges(frame.rgb, *self.canny)
        if spec.kind == "sequence" and spec.name not in self.ranges:
            return self._raw(spec, frame).astype(np.float32)
        if spec.kind == "normals":
            normals = np.stack([np.asarray(frame.aovs[c], dtype=np.float32) for c in spec.channels], axis=-1)
            normals = np.nan_to_num(normals, nan=0.0, posinf=0.0, neginf=0.0)
            return np.clip(normals * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)
        values = np.nan_to_num(self._raw(spec, frame), nan=0.0, posinf=0.0, neginf=0.0)
        image = self.ranges[spec.name].normalise(values)
        return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)


def _is_exr(pattern: str) -> bool:
    return pattern.lower().endswith(".exr")


def read_control_image(
    pattern: str,
    number: int,
    shape: tuple[int, int],
    open_path: Callable[[str, str], str] = lambda path, what: path,
) -> np.ndarray:
    """Frame `number` of a control-image sequence as (h, w, 3): integer images scaled to [0, 1],
    float EXRs as they are (normalised over the shot by the caller); resized to `shape`."""
    import cv2

    from stylelock.core.sequence import FramePattern

    path = open_path(FramePattern.parse(pattern).path(number), "guide frame")
    try:
        if _is_exr(path):
            from stylelock.core.exr import read_exr

            part = read_exr(path).main
            image = (
                part.rgb()
                if part.rgb_layers()
                else np.repeat(part.pixels[part.channels[0]].astype(np.float32)[..., None], 3, axis=-1)
            )
        else:
            data = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if data is None:
                raise OSError("not a readable image")
            scale = float(np.iinfo(data.dtype).max) if data.dtype.kind in "ui" else 1.0
            data = data.astype(np.float32) / scale
            if data.ndim == 2:
                data = np.repeat(data[..., None], 3, axis=-1)
            image = np.ascontiguousarray(data[..., 2::-1])  # BGR(A) -> RGB
    except Exception as exc:
        raise EngineError(f"guide image {path!r} cannot be read: {exc}") from None
    h, w = shape
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return np.clip(image, 0.0, None) if _is_exr(path) else np.clip(image, 0.0, 1.0)


def canny_edges(rgb: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    import cv2

    edges = cv2.Canny(to_gray8(rgb, "canny source"), low, high).astype(np.float32) / 255.0
    return np.repeat(edges[..., None], 3, axis=-1)


def _range_frames(spec: GuideSpec, frames: Sequence[int]) -> Sequence[int]:
    """The frames a guide's shot-wide range is measured over: `frames`, or for a control-image
    sequence those of them it has on disk (all of them when it has none: reading one names the file)."""
    if spec.kind != "sequence":
        return frames
    from stylelock.core.sequence import FramePattern

    present = set(FramePattern.parse(spec.channels[0]).existing_frames())
    return [n for n in frames if n in present] or frames


def _spread(frames: Sequence[int], count: int) -> list[int]:
    if len(frames) <= count:
        return list(frames)
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in sorted(set(picks.tolist()))]
