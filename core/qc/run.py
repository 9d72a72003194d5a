"""Running `stylelock qc`: decode both sequences, stream them through the metrics, decide the checks.

Both EXR sequences are decoded and encoded into the sRGB model space (the display-referred encoding
the metrics are defined in, whatever encoding the engine used), downscaled to the analysis size, and
streamed frame by frame through `stylelock.core.metrics`: warp-error ratios (short k=1, long k=10,
against the keyframe or first frame) on the plate's motion vectors when it carries them, else DIS
flow; palette drift in CIEDE2000 against the style reference (or, without one, the first output
frame); NaN/Inf counts of both. Only the long-term window (k + 1 small frames) and a handful of
thumbnails are held, never the sequences.

`run_qc` returns a `QcReport`; its `exit_code` is 10 (`EXIT_CODES[10]`) when a threshold the user
set was exceeded, a thresholded metric could not be measured, or the output carries NaN/Inf, else 0.
A warp-ratio threshold on a range too short to hold one pair for it (one frame for the short-term
ratio, `long_k` frames or fewer for the long-term one) is refused up front with a `SpecError`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stylelock.core.errors import (
    FramesMissingError,
    OutputError,
    PlateMismatchError,
    SpecError,
)
from stylelock.core.jobspec import StyleReference
from stylelock.core.metrics import (
    FLAT_TEXTURE_ENERGY,
    LONG_K,
    RUN_PAIRS,
    InventedStructure,
    Palette,
    TemporalStability,
    TermSummary,
    extract_palette,
    fine_texture_energy,
    mean_delta_e,
    nonfinite_counts,
    palette_drift,
)
from stylelock.core.qc.types import QC_THRESHOLD_EXCEEDED, QcCheck, QcFrame, QcReport, QcThresholds
from stylelock.core.sequence import FramePattern, format_frames, parse_frames, resolve_plate
from stylelock.core.style_image import decode_style_image

log = logging.getLogger(__name__)

__all__ = ["QC_THRESHOLD_EXCEEDED", "QcCheck", "QcFrame", "QcReport", "QcThresholds", "run_qc"]

DEFAULT_ANALYSIS_SIZE = 960
_VECTOR_NAMES = (
    "forward.u",
    "forward.v",
    "backward.u",
    "backward.v",
    "Vector.X",
    "Vector.Y",
    "Vector.Z",
    "Vector.W",
)
_THUMB_WIDTH = 240


@dataclass
class _Decoded:
    model: np.ndarray
    """Model space at analysis size."""
    aovs: dict[str, np.ndarray]
    vector_scale: float
    nan: int
    inf: int
    size: tuple[int, int]
    alpha: np.ndarray | None = None
    """Alpha at analysis size, when the frame has one."""


class _Reader:
    """Decodes EXR frames into small model-space frames (and their motion vectors)."""

    def __init__(self, ocio: str | None, colorspace: str | None, layer: str, analysis_size: int) -> None:
        from stylelock.core.colour import ModelSpaceCodec, resolve_config

        self.config = resolve_config(ocio)
        self.codec = ModelSpaceCodec(self.config, colorspace, "srgb")
        self.layer = layer
        self.analysis_size = analysis_size

    def target(self, width: int, height: int) -> tuple[int, int]:
        scale = min(1.0, self.analysis_size / max(width, height))
        return max(8, round(width * scale)), max(8, round(height * scale))

    def read(self, path: str, *, with_vectors: bool) -> _Decoded:
        from stylelock.core.exr import read_exr

        image = read_exr(path)
        part = image.main
        try:
            rgb = part.rgb(self.layer)
        except SpecError:
            if not self.layer:
                raise
            rgb = part.rgb("")
        rgb = np.asarray(rgb, dtype=np.float32)
        counts = nonfinite_counts(rgb)
        if counts.total:
            rgb = np.nan_to_num(rgb, nan=0.0, posinf=0.0, neginf=0.0)
        alpha = part.alpha(self.layer)
        model, _ = self.codec.encode(rgb, alpha)
        h, w = model.shape[:2]
        tw, th = self.target(w, h)
        small = np.clip(_resize(model, tw, th), 0.0, 1.0)
        aovs: dict[str, np.ndarray] = {}
        if with_vectors:
            channels = {name: part.channel_float(name) for name in part.channels}
            channels.update(image.channels_beside(part))  # Blender 5: passes in parts of their own
            for name, values in channels.items():
                if any(name == v or name.endswith("." + v) for v in _VECTOR_NAMES):
                    aovs[name] = _resize(np.asarray(values, dtype=np.float32), tw, th)
        small_alpha = None if alpha is None else _resize(np.asarray(alpha, dtype=np.float32), tw, th)
        return _Decoded(small, aovs, tw / w, counts.nan, counts.inf, (w, h), small_alpha)

    def read_style(self, path: str) -> tuple[np.ndarray, np.ndarray | None]:
        if not os.path.isfile(path):
            raise FramesMissingError(f"style reference {path} does not exist")
        return decode_style_image(path, self.codec)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=cv2.INTER_AREA)


def _thumbnail(model: np.ndarray) -> np.ndarray:
    h, w = model.shape[:2]
    tw = min(_THUMB_WIDTH, w)
    return _resize(model, tw, max(1, round(h * tw / w)))


def _styles(style: str | StyleReference | Sequence[str | StyleReference] | None) -> list[StyleReference]:
    if style is None:
        return []
    if isinstance(style, str | StyleReference):
        style = [style]
    return [StyleReference.parse(s) if isinstance(s, str) else s for s in style]


@dataclass
class _Keyframe:
    frame: int
    path: str
    plate: np.ndarray
    paint: np.ndarray
    """Both at the analysis size, model space."""
    paint_texture: float
    """`fine_texture_energy` of the paint (0 for flat paint), the whole-frame texture's reference."""


def run_qc(
    plate: str,
    output: str,
    frames: str | Iterable[int] | None = None,
    *,
    style: str | StyleReference | Sequence[str | StyleReference] | None = None,
    thresholds: QcThresholds | None = None,
    report_dir: str | os.PathLike | None = None,
    ocio: str | None = None,
    colorspace: str | None = None,
    layer: str = "",
    long_k: int = LONG_K,
    analysis_size: int = DEFAULT_ANALYSIS_SIZE,
    flow_preset: str = "medium",
    palette_k: int = 8,
    thumbnails: int = 6,
    run_pairs: int = RUN_PAIRS,
) -> QcReport:
    """Measure ``output`` against ``plate`` (sequence patterns) over ``frames`` (default: every plate
    frame on disk) and write ``qc.json`` and ``qc.html`` into ``report_dir`` when given.

    ``style`` is the locked reference (``PATH`` or ``FRAME=PATH``), or several painted keyframes
    (``FRAME=PATH`` each): the first one's palette is what the output's is measured against, and
    the first ``FRAME=`` keyframe inside the range is the anchor of the long-range warp error.
    Painted keyframes inside the range are what keyframe fidelity, the fine-texture ratio and the
    invented-structure measure compare with. ``ocio``/``colorspace`` name the config and the
    plates' colour space (defaults: the config resolution of `stylelock.core.colour` and its
    scene_linear role). ``run_pairs`` is the length of the worst run the warp-ratio gates also check.
    """
    thresholds = thresholds or QcThresholds()
    if analysis_size < 16:
        raise SpecError(f"analysis size {analysis_size} is too small; use at least 16 pixels")
    if frames is None:
        frames = FramePattern.parse(plate).existing_frames()
        if not frames:
            raise SpecError(f"no frame of plate {plate} is on disk; pass --frames")
    numbers = parse_frames(frames)
    styles = _styles(style)
    index = {n: i for i, n in enumerate(numbers)}
    painted = [s for s in styles if s.frame is not None and s.frame in index]
    _refuse_unmeasurable_gates(thresholds, numbers, long_k, bool(painted))
    plate_paths = resolve_plate(plate, numbers)
    out_paths = resolve_plate(output, numbers)
    reader = _Reader(ocio, colorspace, layer, analysis_size)
    reference = styles[0] if styles else None
    notes: list[str] = []

    ref_palette: Palette | None = None
    ref_label = "first output frame"
    masked = False  # the reference's palette is taken where it is opaque; outputs' likewise
    if reference is not None:
        ref_rgb, ref_alpha = reader.read_style(reference.path)
        mask = ref_alpha > 0.5 if ref_alpha is not None and np.any(ref_alpha > 0.5) else None
        masked = mask is not None
        ref_palette = extract_palette(ref_rgb, k=palette_k, seed=0, mask=mask)
        ref_label = f"style {reference.path}" + (f" (keyframe {reference.frame})" if reference.frame else "")
    for s in styles:
        if s.frame is not None and s.frame not in index:
            notes.append(f"keyframe {s.frame} is outside the range; it is not compared with")

    anchor = None
    decoded: dict[int, tuple[_Decoded, _Decoded]] = {}  # decoded early, reused in the loop below
    first_key = next((s.frame for s in styles if s.frame is not None and s.frame in index), None)
    if first_key is not None and index[first_key] > 0:
        i = index[first_key]
        decoded[i] = (
            reader.read(plate_paths[i][1], with_vectors=True),
            reader.read(out_paths[i][1], with_vectors=False),
        )
        anchor = (first_key, decoded[i][0].model, decoded[i][1].model)

    keyframes: list[_Keyframe] = []
    for s in painted:
        i = index[s.frame]
        if i not in decoded:
            decoded[i] = (
                reader.read(plate_paths[i][1], with_vectors=True),
                reader.read(out_paths[i][1], with_vectors=False),
            )
        key_plate = decoded[i][0]
        paint_rgb, _ = reader.read_style(s.path)
        ph, pw = paint_rgb.shape[:2]
        if (pw, ph) != key_plate.size:
            raise PlateMismatchError(
                f"painted keyframe {s.path} is {pw}x{ph} but plate frame {s.frame} is "
                f"{key_plate.size[0]}x{key_plate.size[1]}"
            )
        tw, th = key_plate.model.shape[1], key_plate.model.shape[0]
        paint = np.clip(_resize(np.asarray(paint_rgb, np.float32), tw, th), 0.0, 1.0)
        keyframes.append(_Keyframe(s.frame, s.path, key_plate.model, paint, fine_texture_energy(paint)))
    invented = InventedStructure([(k.frame, k.plate, k.paint) for k in keyframes]) if keyframes else None

    stability = TemporalStability(long_k=long_k, anchor=anchor, preset=flow_preset, run_pairs=run_pairs)
    thumb_at = {
        round(float(i)) for i in np.linspace(0, len(numbers) - 1, max(1, min(thumbnails, len(numbers))))
    }
    thumbs: list[tuple[str, np.ndarray, np.ndarray]] = []
    worst: tuple[float, str, np.ndarray, np.ndarray] | None = None
    worst_invented: tuple[float, int, np.ndarray, np.ndarray, np.ndarray] | None = None
    per_frame: list[QcFrame] = []
    size: tuple[int, int] | None = None
    for i, ((number, plate_path), (_, out_path)) in enumerate(zip(plate_paths, out_paths, strict=True)):
        if i in decoded:
            p, o = decoded.pop(i)
        else:
            p = reader.read(plate_path, with_vectors=True)
            o = reader.read(out_path, with_vectors=False)
        if o.size != p.size:
            raise PlateMismatchError(
                f"output frame {number} ({out_path}) is {o.size[0]}x{o.size[1]} but the plate is "
                f"{p.size[0]}x{p.size[1]}"
            )
        if size is None:
            size = p.size
        elif p.size != size:
            raise PlateMismatchError(
                f"plate frame {number} ({plate_path}) is {p.size[0]}x{p.size[1]}, frame {numbers[0]} is "
                f"{size[0]}x{size[1]}"
            )
        temporal = stability.add(number, p.model, o.model, aovs=p.aovs, vector_scale=p.vector_scale)
        if ref_palette is None:
            ref_palette = extract_palette(o.model, k=palette_k, seed=0)
        opaque = o.alpha > 0.5 if masked and o.alpha is not None and np.any(o.alpha > 0.5) else None
        out_palette = extract_palette(o.model, seed=0, init=ref_palette, mask=opaque)
        drift = palette_drift(ref_palette, out_palette)
        frame_invented = texture = whole_texture = fidelity = None
        if invented is not None:
            motion = stability.latest_motion()
            frame_invented, shown = invented.add(
                number, p.model, o.model, None if motion is None else (motion[0], motion[1])
            )
            texture = frame_invented.texture_ratio
            nearest = min(keyframes, key=lambda k: (abs(k.frame - number), k.frame))
            if nearest.paint_texture > FLAT_TEXTURE_ENERGY:  # `has_fine_texture`, measured once per keyframe
                whole_texture = fine_texture_energy(o.model) / nearest.paint_texture
            own = next((k for k in keyframes if k.frame == number), None)
            if own is not None:
                fidelity = mean_delta_e(o.model, own.paint)
            if shown is not None and (worst_invented is None or frame_invented.fraction > worst_invented[0]):
                worst_invented = (frame_invented.fraction, number, p.model, o.model, shown)
        per_frame.append(
            QcFrame(
                number,
                temporal,
                drift,
                p.nan,
                p.inf,
                o.nan,
                o.inf,
                frame_invented,
                texture,
                whole_texture,
                fidelity,
            )
        )
        if i in thumb_at:
            thumbs.append((f"frame {number}", _thumbnail(p.model), _thumbnail(o.model)))
        ratio = temporal.short.ratio_lowpass if temporal.short is not None else math.nan
        if math.isfinite(ratio) and (worst is None or ratio > worst[0]):
            worst = (
                ratio,
                f"frame {number}: worst short-term ratio (low-passed) {ratio:.3g}",
                p.model,
                o.model,
            )
        log.debug("qc frame %d: short %s drift %.3f", number, temporal.short, drift)

    summary = stability.summary()
    checks = _checks(summary, per_frame, thresholds, run_pairs)
    assert size is not None and ref_palette is not None
    note = _resampled_flow_note(summary, size, reader.target(*size))
    if note:
        notes.append(note)
    colour = {"encoding": "srgb", "input_space": colorspace}
    colour.update(reader.codec.describe())
    report = QcReport(
        plate=plate,
        output=output,
        frames=numbers,
        analysis_size=reader.target(*size),
        colour=colour,
        temporal=summary,
        palette_reference=ref_label,
        reference_palette=ref_palette,
        per_frame=per_frame,
        thresholds=thresholds,
        checks=checks,
        notes=notes,
        keyframes=[k.frame for k in keyframes],
    )
    if worst is not None and worst[1].split(":")[0] not in {caption for caption, _, _ in thumbs}:
        thumbs.append((worst[1], _thumbnail(worst[2]), _thumbnail(worst[3])))
    crops = []
    if worst_invented is not None and worst_invented[0] > 0:
        crops = _invented_crop(*worst_invented)
    if report_dir is not None:
        _write_report(report, Path(report_dir), thumbs, crops)
    log.info("qc %s: %s", output, "pass" if report.passed else "FAIL")
    return report


def _invented_crop(
    fraction: float, number: int, plate: np.ndarray, output: np.ndarray, mask: np.ndarray
) -> list[tuple[str, np.ndarray]]:
    """The worst frame's invented structure at the analysis size: a crop around the largest region
    (plate, output, output with the region marked), at most 480 x 270 pixels."""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count < 2:
        return []
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[biggest, :4])
    cw, ch = min(mask.shape[1], max(w + 32, 240)), min(mask.shape[0], max(h + 32, 135))
    cw, ch = min(cw, 480), min(ch, 270)
    x0 = int(np.clip(x + w // 2 - cw // 2, 0, mask.shape[1] - cw))
    y0 = int(np.clip(y + h // 2 - ch // 2, 0, mask.shape[0] - ch))
    window = (slice(y0, y0 + ch), slice(x0, x0 + cw))
    marked = output.copy()
    marked[mask] = 0.35 * marked[mask] + 0.65 * np.array([1.0, 0.1, 0.1], np.float32)
    caption = f"frame {number}: {100 * fraction:.2f} % invented; crop at x {x0}, y {y0}"
    return [
        (f"{caption} (plate)", plate[window]),
        (f"{caption} (output)", output[window]),
        (f"{caption} (invented in red)", marked[window]),
    ]


def _resampled_flow_note(
    summary: Mapping[str, TermSummary], size: tuple[int, int], analysis: tuple[int, int]
) -> str | None:
    """A warning when estimated flow was measured at another size than the frames on disk.

    An engine that estimates flow follows its own DIS estimate at the plate's resolution; DIS run on
    a resampled copy differs from it by a fraction of a pixel, which a finely textured restyle turns
    into warp error (measured on the sample plate: 1.5 at the engine's size, 3.7 resampled)."""
    sources = {src for term in summary.values() for src in term.flow_sources}
    estimated = any(src.startswith(("estimated", "mixed")) for src in sources)
    if not estimated or tuple(analysis) == tuple(size):
        return None
    return (
        f"flow was estimated (DIS) at the analysis size {analysis[0]}x{analysis[1]}, not at the "
        f"frames' {size[0]}x{size[1]}: sub-pixel differences from the engine's own flow count as "
        f"flicker; measure with --analysis-size {size[0]} to compare with the bars"
    )


def _refuse_unmeasurable_gates(t: QcThresholds, numbers: list[int], long_k: int, painted: bool) -> None:
    """A gate that could only ever be "not measured" is refused before any work (a gate the user
    asked for never passes so): a warp-ratio gate on a range too short to hold one pair of its
    frames, and a gate that compares with painted keyframes when none is inside the range."""
    if not painted:
        for flag, bound in (
            ("max-keyframe-delta-e", t.max_keyframe_delta_e),
            ("min-texture-ratio", t.min_texture_ratio),
            ("max-invented", t.max_invented),
        ):
            if bound is not None:
                raise SpecError(
                    f"--{flag} compares the output with its painted keyframes: give at least one "
                    f"--style FRAME=PATH with FRAME inside {format_frames(numbers)}"
                )
    gates = (
        (
            "max-warp-ratio",
            t.max_warp_ratio,
            1,
            "the short-term ratio compares each frame with the one before",
        ),
        (
            "max-long-warp-ratio",
            t.max_long_warp_ratio,
            long_k,
            f"the long-term ratio compares frames {long_k} positions apart",
        ),
    )
    for flag, bound, k, why in gates:
        if bound is not None and len(numbers) <= k:
            raise SpecError(
                f"--{flag} cannot be checked on {len(numbers)} frame(s) ({format_frames(numbers)}): {why}, "
                f"so it needs at least {k + 1}; give a longer range or drop the threshold"
            )


def _checks(
    summary: Mapping[str, TermSummary], frames: list[QcFrame], t: QcThresholds, run_pairs: int = RUN_PAIRS
) -> list[QcCheck]:
    def limit(name: str, value: float, bound: float | None, term: TermSummary | None, *, lower: bool = False):
        if bound is None:
            return None
        if not math.isfinite(value):
            return QcCheck(
                name, None, bound, False, reason=_unmeasured_reason(term), bound="min" if lower else "max"
            )
        passed = value >= bound if lower else value <= bound
        return QcCheck(name, value, bound, passed, bound="min" if lower else "max")

    short, long = summary["short"], summary["long"]
    drift = float(np.mean([f.palette_drift for f in frames])) if frames else math.nan
    fidelity = [f.keyframe_delta_e for f in frames if f.keyframe_delta_e is not None]
    texture = [f.texture_ratio for f in frames if f.texture_ratio is not None]
    invented = [
        f.invented.fraction for f in frames if f.invented is not None and f.invented.fraction is not None
    ]
    run = f"worst run of {run_pairs} pairs"
    checks = [
        limit("short-term warp-error ratio (k=1, low-passed)", short.ratio_lowpass, t.max_warp_ratio, short),
        limit(
            f"short-term warp-error ratio (k=1, {run}, low-passed)",
            short.worst_run_ratio,
            t.max_warp_ratio,
            short,
        ),
        limit(
            f"long-term warp-error ratio (k={long.k}, low-passed)",
            long.ratio_lowpass,
            t.max_long_warp_ratio,
            long,
        ),
        limit(
            f"long-term warp-error ratio (k={long.k}, {run}, low-passed)",
            long.worst_run_ratio,
            t.max_long_warp_ratio,
            long,
        ),
        limit("mean palette drift (CIEDE2000)", drift, t.max_delta_e, None),
        limit(
            "keyframe fidelity (mean CIEDE2000 against the paint, worst keyframe)",
            max(fidelity) if fidelity else math.nan,
            t.max_keyframe_delta_e,
            None,
        ),
        limit(
            "carried fine-texture ratio (worst frame, against its keyframe's paint)",
            min(texture) if texture else math.nan,
            t.min_texture_ratio,
            None,
            lower=True,
        ),
        limit(
            "invented structure (worst frame, % of the frame)",
            100.0 * max(invented) if invented else math.nan,
            t.max_invented,
            None,
        ),
    ]
    bad = sum(f.output_nan + f.output_inf for f in frames)
    checks.append(QcCheck("NaN/Inf values in the output RGB", float(bad), 0.0, bad == 0))
    return [c for c in checks if c is not None]


def _unmeasured_reason(term: TermSummary | None) -> str:
    """Why a metric with a threshold came out NaN (a range too short for it was refused up front)."""
    if term is None:
        return "no frame could be compared (no palette, or no frame followed back to a painted keyframe)"
    return (
        f"no pixel of any frame pair {term.k} apart passed the occlusion check (the motion explains "
        "none of the frames), so there is no warp error to compare"
    )


def _write_report(
    report: QcReport,
    folder: Path,
    thumbs: list[tuple[str, np.ndarray, np.ndarray]],
    crops: list[tuple[str, np.ndarray]] | None = None,
) -> None:
    from stylelock.core.qc.report import png_data_uri, render_html

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"QC report folder {folder} cannot be created: {exc.strerror}") from None
    report.json_path = str(folder / "qc.json")
    report.html_path = str(folder / "qc.html")
    data = report.to_dict()
    page = render_html(
        data,
        [(c, png_data_uri(a), png_data_uri(b)) for c, a, b in thumbs],
        [(c, png_data_uri(img)) for c, img in crops or []],
    )
    _atomic_write(Path(report.json_path), json.dumps(data, indent=2, allow_nan=False) + "\n")
    _atomic_write(Path(report.html_path), page)


def _atomic_write(path: Path, text: str) -> None:
    """Write beside ``path`` and rename into place: a reader never sees half a report."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"QC report {path} cannot be written: {exc.strerror}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
