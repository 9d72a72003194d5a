"""The HTML page of a QC report: summary table, checks, inline SVG plots and PNG thumbnails.

Self-contained (no scripts, no external files, no plotting library): the SVG is written here and
thumbnails are base64 PNGs, so the page can be mailed or attached to a review ticket as it is.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

from stylelock.core.contact_sheet import to_uint8

_COLOURS = ("#d1495b", "#2e86ab", "#66a182", "#edae49")


def png_data_uri(rgb: np.ndarray) -> str:
    """A model-space (h, w, 3) [0, 1] image as a ``data:image/png;base64,...`` URI."""
    import cv2

    bgr = np.ascontiguousarray(to_uint8(np.asarray(rgb, dtype=np.float32)[..., :3])[..., ::-1])
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 3-channel image
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _fmt(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def svg_line_chart(
    series: Mapping[str, Sequence[tuple[float, float | None]]],
    *,
    title: str,
    y_label: str,
    threshold: float | None = None,
    log_y: bool = False,
    width: int = 720,
    height: int = 220,
) -> str:
    """An inline SVG line chart of ``series`` (name -> [(x, y or None)]), with an optional dashed
    threshold line. None/NaN points break the line. ``log_y`` plots log10(y) for y > 0."""
    left, right, top, bottom = 76, 16, 28, 36
    pw, ph = width - left - right, height - top - bottom

    def ty(v: float | None) -> float | None:
        if v is None or not math.isfinite(v):
            return None
        if log_y:
            return math.log10(v) if v > 0 else None
        return v

    xs = [x for pts in series.values() for x, _ in pts]
    ys = [t for pts in series.values() for _, y in pts if (t := ty(y)) is not None]
    if threshold is not None and ty(threshold) is not None:
        ys.append(ty(threshold))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{left}" y="18" font-size="13" font-family="sans-serif">{html.escape(title)}</text>',
    ]
    if not xs or not ys:
        parts.append(
            f'<text x="{left + 8}" y="{top + ph / 2}" font-size="12" font-family="sans-serif" '
            'fill="#666">not measured</text></svg>'
        )
        return "".join(parts)
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if not log_y:
        y0 = min(y0, 0.0)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pad = 0.05 * (y1 - y0)
    y0, y1 = (y0 - pad if log_y else y0), y1 + pad

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    parts.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999" stroke-width="1"/>'
    )
    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        label = f"{10**yv:.3g}" if log_y else f"{yv:.3g}"
        parts.append(
            f'<text x="{left - 6}" y="{py(yv) + 4:.1f}" font-size="10" text-anchor="end" '
            f'font-family="sans-serif">{label}</text>'
        )
    for xv in sorted({x0, x1, round((x0 + x1) / 2)}):
        parts.append(
            f'<text x="{px(xv):.1f}" y="{top + ph + 14}" font-size="10" text-anchor="middle" '
            f'font-family="sans-serif">{xv:g}</text>'
        )
    parts.append(
        f'<text x="12" y="{top + ph / 2}" font-size="10" font-family="sans-serif" '
        f'transform="rotate(-90 12 {top + ph / 2})" text-anchor="middle">{html.escape(y_label)}</text>'
    )
    if threshold is not None and (t := ty(threshold)) is not None:
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#000" '
            'stroke-dasharray="5,4" stroke-width="1"/>'
            f'<text x="{left + pw - 4}" y="{py(t) - 4:.1f}" font-size="10" text-anchor="end" '
            f'font-family="sans-serif">limit {threshold:g}</text>'
        )
    for i, (name, pts) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        runs: list[list[str]] = [[]]
        for x, y in pts:
            t = ty(y)
            if t is None:
                runs.append([])
                continue
            runs[-1].append(f"{px(x):.1f},{py(t):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{" ".join(run)}"/>'
                )
        parts.append(
            f'<text x="{width - right - 110 * (len(series) - i)}" y="18" font-size="11" fill="{colour}" '
            f'font-family="sans-serif">■ {html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f2f2f2}.pass{color:#1b7f3b;font-weight:bold}.fail{color:#b3261e;font-weight:bold}
.thumbs{display:flex;flex-wrap:wrap;gap:12px}.thumbs figure{margin:0}figcaption{font-size:12px;color:#555}
code{background:#f5f5f5;padding:1px 4px}
"""


def render_html(
    report: Mapping,
    thumbnails: Sequence[tuple[str, str, str]],
    crops: Sequence[tuple[str, str]] = (),
) -> str:
    """The page for ``report`` (`QcReport.to_dict()`); ``thumbnails`` are (caption, plate URI, output
    URI); ``crops`` (caption, URI) show the worst frame's invented structure at the analysis size."""
    verdict = "PASS" if report["passed"] else "FAIL"
    cls = "pass" if report["passed"] else "fail"
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>StyleLock QC {verdict}: {html.escape(report['output'])}</title><style>{_CSS}</style>",
        "</head><body>",
        f"<h1>StyleLock QC: <span class='{cls}'>{verdict}</span></h1>",
        "<table>",
        f"<tr><th>Plate</th><td><code>{html.escape(report['plate'])}</code></td></tr>",
        f"<tr><th>Output</th><td><code>{html.escape(report['output'])}</code></td></tr>",
        f"<tr><th>Frames</th><td>{html.escape(report['frame_range'])} ({len(report['frames'])})</td></tr>",
        f"<tr><th>Measured at</th><td>{report['analysis_size'][0]}x{report['analysis_size'][1]}, model space "
        f"({html.escape(str(report['colour'].get('encoding', '')))})</td></tr>",
        f"<tr><th>Flow</th><td>{html.escape(', '.join(report['flow_sources']) or '–')}</td></tr>",
        f"<tr><th>Palette reference</th><td>{html.escape(report['palette']['reference'])}</td></tr>",
        "</table>",
        "<h2>Checks</h2><table><tr><th>Check</th><th>Value</th><th>Limit</th><th>Result</th></tr>",
    ]
    for check in report["checks"]:
        if check["value"] is None:
            result = f"FAIL: not measured ({html.escape(check['reason'] or '')})"
        else:
            result = "pass" if check["passed"] else "FAIL"
        rcls = "pass" if check["passed"] else "fail"
        sign = "≥ " if check.get("bound") == "min" else "≤ "
        out.append(
            f"<tr><td>{html.escape(check['name'])}</td><td>{_fmt(check['value'])}</td>"
            f"<td>{sign}{_fmt(check['limit'])}</td><td class='{rcls}'>{result}</td></tr>"
        )
    out.append("</table>")
    if report.get("notes"):
        out.append("<h2>Notes</h2><ul>")
        out.extend(f"<li>{html.escape(note)}</li>" for note in report["notes"])
        out.append("</ul>")
    out.append("<h2>Temporal stability (warp error, Lai et al. 2018)</h2>")
    out.append(
        "<p>Gated low-passed (plate and output alike through a 1 px Gaussian: what a viewer sees as "
        "flicker), over the shot and over its worst run of frames; full resolution beside it (it also "
        "counts crisp lines resampled as they glide by fractions of a pixel).</p>"
        "<table><tr><th>Term</th><th>Pairs</th><th>Ratio, low-passed</th><th>Worst run, low-passed "
        "(frames)</th><th>Worst frame, low-passed</th><th>Ratio, full resolution</th><th>Output MSE</th>"
        "<th>Plate MSE</th><th>Flow</th></tr>"
    )
    for term in report["temporal"].values():
        k = "keyframe or first frame" if term["k"] is None else f"k={term['k']}"
        run = term.get("worst_run_frames")
        run_text = f"{run[0]}-{run[1]}" if run else "–"
        out.append(
            f"<tr><td>{term['term']} ({k})</td><td>{term['pairs']}</td>"
            f"<td>{_fmt(term.get('ratio_lowpass'))}</td>"
            f"<td>{_fmt(term.get('worst_run_ratio'))} ({run_text})</td>"
            f"<td>{_fmt(term.get('worst_lowpass_ratio'))} ({_fmt(term.get('worst_lowpass_frame'))})</td>"
            f"<td>{_fmt(term['ratio'])}</td><td>{_fmt(term['output'])}</td><td>{_fmt(term['plate'])}</td>"
            f"<td>{html.escape(', '.join(term['flow_sources']))}</td></tr>"
        )
    out.append("</table>")
    frames = report["per_frame"]

    def pick(term: str, key: str) -> list[tuple[float, float | None]]:
        return [(f["frame"], (f["temporal"][term] or {}).get(key)) for f in frames]

    thr = report["thresholds"]
    out.append(
        svg_line_chart(
            {"output": pick("short", "output"), "plate": pick("short", "plate")},
            title="Flicker: short-term warp error per frame (k=1)",
            y_label="MSE (log)",
            log_y=True,
        )
    )
    out.append("<br>")
    out.append(
        svg_line_chart(
            {
                "short, low-passed": pick("short", "ratio_lowpass"),
                "long, low-passed": pick("long", "ratio_lowpass"),
                "short, full res": pick("short", "ratio"),
                "anchor": pick("anchor", "ratio"),
            },
            title="Warp-error ratio, output over plate (1 = as stable as the plate)",
            y_label="ratio",
            threshold=thr.get("max_warp_ratio"),
        )
    )
    out.append("<h2>Palette drift (CIEDE2000)</h2>")
    out.append(
        svg_line_chart(
            {"drift": [(f["frame"], f["palette_drift"]) for f in frames]},
            title="Palette drift per frame: reference swatches to nearest output swatch",
            y_label="ΔE00",
            threshold=thr.get("max_delta_e"),
        )
    )
    pal = report["palette"]
    out.append(
        f"<p>Mean {_fmt(pal['mean_drift'])}, max {_fmt(pal['max_drift'])} (frame "
        f"{_fmt(pal['worst_frame'])}). Reference swatches:</p><p>"
    )
    for lab, weight in zip(pal["reference_palette"]["lab"], pal["reference_palette"]["weights"], strict=True):
        out.append(f"<span title='L*a*b* {lab} weight {weight:.3f}'>{_swatch(lab)}</span>")
    out.append("</p>")
    if report.get("keyframes"):
        out.extend(_paint_sections(report, frames, crops))
    nf = report["nonfinite"]
    out.append(
        "<h2>NaN / Inf</h2><table><tr><th></th><th>NaN</th><th>Inf</th></tr>"
        f"<tr><td>plate RGB</td><td>{nf['plate']['nan']}</td><td>{nf['plate']['inf']}</td></tr>"
        f"<tr><td>output RGB</td><td>{nf['output']['nan']}</td><td>{nf['output']['inf']}</td></tr></table>"
    )
    out.append("<h2>Thumbnails (plate | output)</h2><div class='thumbs'>")
    for caption, plate_uri, out_uri in thumbnails:
        out.append(
            f"<figure><img src='{plate_uri}' alt='plate'><img src='{out_uri}' alt='output'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    out.append("</div></body></html>")
    return "\n".join(out)


def _paint_sections(
    report: Mapping, frames: Sequence[Mapping], crops: Sequence[tuple[str, str]]
) -> list[str]:
    """Keyframe fidelity, fine texture and invented structure: what the output kept of the paint."""
    thr = report["thresholds"]
    out = ["<h2>The paint: fidelity, fine texture, invented structure</h2>"]
    keys = ", ".join(str(k) for k in report["keyframes"])
    out.append(f"<p>Painted keyframes compared with: {html.escape(keys)}.</p>")
    out.append("<table><tr><th>Keyframe</th><th>Mean CIEDE2000 of the output against the paint</th></tr>")
    for frame, value in report["fidelity"].items():
        out.append(f"<tr><td>{html.escape(frame)}</td><td>{_fmt(value)}</td></tr>")
    out.append("</table>")
    out.append(
        svg_line_chart(
            {
                "carried (gated)": [(f["frame"], f.get("texture_ratio")) for f in frames],
                "the paint carried by the motion alone": [
                    (f["frame"], (f.get("invented") or {}).get("carried_paint_texture_ratio")) for f in frames
                ],
                "whole frame": [(f["frame"], f.get("texture_ratio_whole_frame")) for f in frames],
            },
            title="Fine texture: 1 px high-pass energy of each frame over its keyframe's paint, on the "
            "surfaces the keyframe saw (carried) and over the whole frame",
            y_label="ratio",
            threshold=thr.get("min_texture_ratio"),
        )
    )
    out.append("<br>")

    def share(key: str) -> list[tuple[float, float | None]]:
        return [
            (
                f["frame"],
                None if not f.get("invented") or f["invented"][key] is None else 100 * f["invented"][key],
            )
            for f in frames
        ]

    out.append(
        svg_line_chart(
            {"invented": share("fraction"), "uncovered since the keyframe": share("uncovered_fraction")},
            title="Invented structure: paint neither the motion nor a keyframe explains (% of the frame)",
            y_label="% of frame",
            threshold=thr.get("max_invented"),
        )
    )
    inv = report["invented"]
    out.append(
        f"<p>Worst frame {_fmt(inv['worst_frame'])}: "
        f"{_fmt(None if inv['worst'] is None else 100 * inv['worst'])} "
        "% of the frame. Uncovered background is followed back to the keyframe along its layer; where the "
        "keyframe saw it, its paint must be that surface's paint, elsewhere some keyframe region whose "
        "plate matches must hold such paint.</p>"
    )
    if crops:
        out.append("<div class='thumbs'>")
        for caption, uri in crops:
            out.append(
                f"<figure><img src='{uri}' alt='crop'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        out.append("</div>")
    return out


def _swatch(lab: Sequence[float]) -> str:
    from stylelock.core.metrics.lab import lab_to_srgb

    r, g, b = (round(255 * float(c)) for c in lab_to_srgb(np.asarray(lab, dtype=np.float64)))
    return (
        f"<span style='display:inline-block;width:40px;height:24px;margin-right:4px;"
        f"border:1px solid #888;background:rgb({r},{g},{b})'></span>"
    )
