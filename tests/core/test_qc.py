"""`stylelock qc` end to end on small EXR sequences written through OpenImageIO."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from stylelock.core.colour import ModelSpaceCodec, resolve_config
from stylelock.core.errors import SpecError
from stylelock.core.qc import QC_THRESHOLD_EXCEEDED, QcThresholds, run_qc
from stylelock.server.cli import main

W, H = 96, 64
FRAMES = list(range(1001, 1013))  # 12 frames: two k=10 pairs
TINT = np.array([1.15, 0.95, 0.7], np.float32)


def write_exr(path: Path, channels: dict[str, np.ndarray]) -> None:
    names = list(channels)
    h, w = next(iter(channels.values())).shape
    spec = oiio.ImageSpec(w, h, len(names), oiio.FLOAT)
    spec.channelnames = names
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.stack([channels[n] for n in names], axis=-1).astype(np.float32))
    out.close()


def _base(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.random((H * 2, W * 2, 3)).astype(np.float32), (0, 0), 2.5)
    tex = np.clip((tex - tex.mean()) / tex.std() * 0.18 + 0.5, 0.02, 1.0)
    return (tex**2.2).astype(np.float32)  # scene-linear values


def _frame(base: np.ndarray, i: int, dx: float = 1.5, dy: float = 0.5) -> np.ndarray:
    """Crop of the bigger texture moving by (dx, dy) a frame: real content enters at the edges."""
    m = np.float32([[1, 0, -(16 + dx * i)], [0, 1, -(16 + dy * i)]])
    return cv2.warpAffine(base, m, (W, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def _rgba(rgb: np.ndarray) -> dict[str, np.ndarray]:
    return {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2], "A": np.ones(rgb.shape[:2], np.float32)}


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("qc")
    for sub in ("plate", "good", "flicker", "recolour"):
        (root / sub).mkdir()
    base = _base()
    rng = np.random.default_rng(3)
    for i, n in enumerate(FRAMES):
        rgb = _frame(base, i)
        write_exr(root / "plate" / f"plate.{n}.exr", _rgba(rgb))
        styled = rgb * TINT
        write_exr(root / "good" / f"styled.{n}.exr", _rgba(styled))
        gain = np.float32(1.0 + rng.uniform(-0.25, 0.25))
        write_exr(root / "flicker" / f"styled.{n}.exr", _rgba(styled * gain))
        write_exr(root / "recolour" / f"styled.{n}.exr", _rgba(styled[..., ::-1].copy()))
    # The look reference: the good output's first frame as it looks in model space, saved as a PNG.
    codec = ModelSpaceCodec(resolve_config(None))
    first, _ = codec.encode(_frame(base, 0) * TINT, np.ones((H, W), np.float32))
    cv2.imwrite(str(root / "look.png"), (first[..., ::-1] * 255 + 0.5).astype(np.uint8))
    return {
        "root": str(root),
        "plate": str(root / "plate" / "plate.####.exr"),
        "good": str(root / "good" / "styled.####.exr"),
        "flicker": str(root / "flicker" / "styled.####.exr"),
        "recolour": str(root / "recolour" / "styled.####.exr"),
        "look": str(root / "look.png"),
    }


def test_good_output_passes_and_writes_report(shot: dict[str, str], tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    code = main(
        [
            "qc", shot["plate"], shot["good"], "--frames", "1001-1012",
            "--max-warp-ratio", "1.25", "--max-long-warp-ratio", "1.5", "--report", str(report_dir),
        ]
    )  # fmt: skip
    assert code == 0
    data = json.loads((report_dir / "qc.json").read_text())
    assert data["passed"] is True and data["exit_code"] == 0
    assert data["frames"] == FRAMES and data["frame_range"]
    assert data["analysis_size"] == [W, H]
    assert data["flow_sources"] == ["estimated:dis-medium"]
    short, long = data["temporal"]["short"], data["temporal"]["long"]
    assert short["pairs"] == 11 and long["pairs"] == 2 and data["temporal"]["anchor"]["pairs"] == 11
    # A pointwise tint moves exactly with the plate: about as stable as the plate itself.
    assert 0.6 < short["ratio"] < 1.25 and 0.6 < long["ratio"] < 1.5
    assert short["plate"] > 0
    assert {c["name"] for c in data["checks"]} >= {
        "short-term warp-error ratio (k=1, low-passed)",
        "short-term warp-error ratio (k=1, worst run of 5 pairs, low-passed)",
        "long-term warp-error ratio (k=10, low-passed)",
        "long-term warp-error ratio (k=10, worst run of 5 pairs, low-passed)",
        "NaN/Inf values in the output RGB",
    }
    # gated low-passed, reported at full resolution beside it
    assert 0.6 < short["ratio_lowpass"] < 1.25 and short["worst_run_ratio"] >= short["ratio_lowpass"]
    assert data["nonfinite"] == {"plate": {"nan": 0, "inf": 0}, "output": {"nan": 0, "inf": 0}}
    assert len(data["per_frame"]) == 12 and data["per_frame"][0]["temporal"]["short"] is None
    assert data["per_frame"][1]["temporal"]["short"]["other"] == 1001
    assert data["palette"]["reference"] == "first output frame"
    assert data["per_frame"][0]["palette_drift"] == 0.0
    page = (report_dir / "qc.html").read_text()
    assert "PASS" in page and page.count("<svg") == 3 and "<polyline" in page
    assert page.count("data:image/png;base64,") >= 12  # plate + output thumbnails
    assert not list(report_dir.glob(".qc*"))  # no temporary file left behind
    assert data["notes"] == []


def test_estimated_flow_on_resampled_frames_is_flagged(shot: dict[str, str], tmp_path: Path, capsys) -> None:
    """DIS run on a downscaled copy is not the flow an engine followed: the report says so."""
    args = ["qc", shot["plate"], shot["good"], "--frames", "1001-1004", "--json"]
    assert main([*args, "--analysis-size", str(W // 2), "--report", str(tmp_path)]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert len(notes) == 1 and f"--analysis-size {W}" in notes[0]
    assert f"--analysis-size {W}" in (tmp_path / "qc.html").read_text()  # and the page shows it
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []


def test_flicker_exceeds_warp_ratio(shot: dict[str, str], tmp_path: Path, capsys) -> None:
    code = main(["qc", shot["plate"], shot["flicker"], "--frames", "1001-1012", "--max-warp-ratio", "1.25",
                 "--report", str(tmp_path)])  # fmt: skip
    assert code == QC_THRESHOLD_EXCEEDED == 10
    printed = capsys.readouterr().out
    assert "EXCEEDED" in printed and "FAIL" in printed
    data = json.loads((tmp_path / "qc.json").read_text())
    assert data["passed"] is False
    assert data["temporal"]["short"]["ratio"] > 3.0
    failed = [c for c in data["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == [
        "short-term warp-error ratio (k=1, low-passed)",
        "short-term warp-error ratio (k=1, worst run of 5 pairs, low-passed)",
    ]
    assert "FAIL" in (tmp_path / "qc.html").read_text()
    # Without a threshold the same output is reported, not failed.
    assert main(["qc", shot["plate"], shot["flicker"], "--frames", "1001-1004"]) == 0


def test_palette_drift_against_style(shot: dict[str, str]) -> None:
    good = run_qc(shot["plate"], shot["good"], "1001-1006", style=shot["look"],
                  thresholds=QcThresholds(max_delta_e=3.0))  # fmt: skip
    drift = good.to_dict()["palette"]
    assert good.passed, drift
    assert drift["reference"].startswith("style ") and drift["mean_drift"] < 3.0
    bad = run_qc(shot["plate"], shot["recolour"], "1001-1006", style=shot["look"],
                 thresholds=QcThresholds(max_delta_e=3.0))  # fmt: skip
    assert not bad.passed and bad.exit_code == 10
    assert bad.to_dict()["palette"]["mean_drift"] > 4 * drift["mean_drift"]
    # A channel swap is a per-pixel function of the plate: still temporally stable.
    assert bad.temporal["short"].ratio < 1.5


def test_keyframe_anchor_and_motion_vectors(tmp_path: Path) -> None:
    """A plate with Nuke vectors moving 2 px a frame; keyframe 1004 is the long-range anchor."""
    base = _base(seed=5)
    (tmp_path / "p").mkdir()
    (tmp_path / "o").mkdir()
    ones = np.ones((H, W), np.float32)
    for i, n in enumerate(range(1001, 1008)):
        rgb = np.ascontiguousarray(np.roll(base[:H, :W], 2 * i, axis=1))
        channels = _rgba(rgb) | {
            "forward.u": 2 * ones, "forward.v": 0 * ones, "backward.u": -2 * ones, "backward.v": 0 * ones,
        }  # fmt: skip
        write_exr(tmp_path / "p" / f"plate.{n}.exr", channels)
        write_exr(tmp_path / "o" / f"out.{n}.exr", _rgba(rgb * TINT))
    key = np.clip(np.roll(base[:H, :W], 6, axis=1) * TINT, 0, 1)
    write_exr(tmp_path / "key.exr", _rgba(key))
    report = run_qc(str(tmp_path / "p" / "plate.####.exr"), str(tmp_path / "o" / "out.####.exr"),
                    "1001-1007", style=f"1004={tmp_path / 'key.exr'}")  # fmt: skip
    d = report.to_dict()
    assert d["temporal"]["short"]["flow_sources"] == ["vectors:backward.u/v"]
    assert d["temporal"]["short"]["plate"] == pytest.approx(0.0, abs=1e-9)
    anchors = {f["frame"]: f["temporal"]["anchor"] for f in d["per_frame"]}
    assert anchors[1004] is None
    assert {a["other"] for n, a in anchors.items() if n != 1004} == {1004}
    assert anchors[1007]["flow"] == "vectors:backward.u/v" and anchors[1007]["links"] == 3
    assert anchors[1002]["flow"] == "estimated:dis-medium" and anchors[1002]["links"] == 1
    assert "keyframe 1004" in d["palette"]["reference"]
    assert d["palette"]["max_drift"] < 2.0  # output frames are the keyframe's colours, shifted


def test_nan_in_output_fails(shot: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    for n in (1001, 1002, 1003):
        rgb = _frame(_base(), n - 1001) * TINT
        if n == 1002:
            rgb[3, 4, 1] = np.nan
            rgb[5, 6, 0] = np.inf
        write_exr(tmp_path / "o" / f"s.{n}.exr", _rgba(rgb))
    report = run_qc(shot["plate"], str(tmp_path / "o" / "s.####.exr"), "1001-1003")
    d = report.to_dict()
    assert d["nonfinite"]["output"] == {"nan": 1, "inf": 1}
    assert d["per_frame"][1]["nan"]["output"] == 1
    assert report.exit_code == 10
    assert math.isfinite(d["temporal"]["short"]["ratio"])
    json.dumps(d, allow_nan=False)  # strict JSON


def test_user_errors_have_exit_codes(shot: dict[str, str], tmp_path: Path, capsys) -> None:
    assert main(["qc", shot["plate"], shot["good"], "--frames", "1001-1030"]) == 3
    assert "missing" in capsys.readouterr().err
    (tmp_path / "small").mkdir()
    for n in (1001, 1002):
        write_exr(tmp_path / "small" / f"s.{n}.exr", _rgba(np.full((32, 48, 3), 0.2, np.float32)))
    assert main(["qc", shot["plate"], str(tmp_path / "small" / "s.####.exr"), "--frames", "1001-1002"]) == 4
    assert "48x32" in capsys.readouterr().err
    assert main(["qc", shot["plate"], shot["good"], "--frames", "1001-1002", "--style", "nope.png"]) == 3
    with pytest.raises(SystemExit):
        main(["qc", shot["plate"], shot["good"], "--max-warp-ratio", "-1"])
    with pytest.raises(SpecError, match="max-delta-e must be a positive number"):
        QcThresholds(max_delta_e=0.0)


def test_a_painted_keyframe_with_soft_alpha_matches_itself(tmp_path: Path) -> None:
    """Reference and outputs are measured over the same (opaque) pixels: a keyframe equals itself."""
    (tmp_path / "p").mkdir()
    base = _base(seed=9)
    alpha = np.tile(np.linspace(0.2, 1.0, W, dtype=np.float32), (H, 1))  # half the frame below 0.5
    sky = np.zeros((H, W, 3), np.float32)
    sky[:, : W // 3] = (0.9, 0.05, 0.02)  # a colour that exists only where alpha is low
    for i, n in enumerate(range(1001, 1004)):
        rgb = np.where(alpha[..., None] < 0.5, sky, _frame(base, i)) * alpha[..., None]
        write_exr(tmp_path / "p" / f"plate.{n}.exr", _rgba(rgb) | {"A": alpha})
    plate = str(tmp_path / "p" / "plate.####.exr")
    report = run_qc(plate, plate, "1001-1003", style=f"1001={tmp_path / 'p' / 'plate.1001.exr'}")
    assert report.per_frame[0].palette_drift < 0.5


def test_a_warp_gate_on_a_range_too_short_for_it_is_refused(shot: dict[str, str], capsys) -> None:
    """One frame holds no short-term pair, ten hold no k=10 pair: a gate on either is refused up
    front (exit 2, naming the flag and the frames it needs) instead of passing unmeasured."""
    one = ["qc", shot["plate"], shot["good"], "--frames", "1001"]
    assert main([*one, "--max-warp-ratio", "1.0"]) == 2
    err = capsys.readouterr().err
    assert "--max-warp-ratio cannot be checked on 1 frame(s) (1001)" in err and "at least 2" in err
    ten = ["qc", shot["plate"], shot["good"], "--frames", "1001-1010"]
    assert main([*ten, "--max-long-warp-ratio", "1.5"]) == 2
    err = capsys.readouterr().err
    assert (
        "--max-long-warp-ratio cannot be checked on 10 frame(s) (1001-1010)" in err and "at least 11" in err
    )
    with pytest.raises(SpecError, match="max-long-warp-ratio"):
        run_qc(shot["plate"], shot["good"], "1001-1004", thresholds=QcThresholds(max_long_warp_ratio=9.0))
    # Ungated, the same short ranges are measured and reported; the gates they can hold still apply.
    assert main([*one, "--max-delta-e", "3"]) == 0
    assert main([*ten, "--max-warp-ratio", "1.25"]) == 0
    assert "check long-term" not in capsys.readouterr().out


def test_a_gated_term_that_cannot_be_measured_fails_with_its_reason(tmp_path: Path, capsys) -> None:
    """Vectors that carry every pixel out of frame leave no pixel to compare: the gate fails (exit
    10) and says why, in the summary, the JSON and the page."""
    (tmp_path / "p").mkdir()
    base = _base(seed=2)
    zero, far = np.zeros((H, W), np.float32), np.full((H, W), 4 * W, np.float32)
    away = {"forward.u": far, "forward.v": zero, "backward.u": -far, "backward.v": zero}
    for i, n in enumerate(range(1001, 1004)):
        write_exr(tmp_path / "p" / f"plate.{n}.exr", _rgba(_frame(base, i)) | away)
    plate = str(tmp_path / "p" / "plate.####.exr")
    code = main(["qc", plate, plate, "--max-warp-ratio", "1.25", "--report", str(tmp_path / "r")])
    assert code == QC_THRESHOLD_EXCEEDED
    printed = capsys.readouterr().out
    assert "NOT MEASURED (no pixel of any frame pair 1 apart passed the occlusion check" in printed
    assert printed.splitlines()[-1] == (
        "FAIL: short-term warp-error ratio (k=1, low-passed) not measured; "
        "short-term warp-error ratio (k=1, worst run of 5 pairs, low-passed) not measured"
    )
    data = json.loads((tmp_path / "r" / "qc.json").read_text())
    for check in [c for c in data["checks"] if c["name"].startswith("short-term")]:
        assert check["value"] is None and check["passed"] is False and "occlusion" in check["reason"]
    assert data["temporal"]["short"]["pairs"] == 0 and data["passed"] is False
    assert "FAIL: not measured (no pixel" in (tmp_path / "r" / "qc.html").read_text()
    # Without the gate the same run passes, the term reported as not measured.
    assert main(["qc", plate, plate]) == 0
