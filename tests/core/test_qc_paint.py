"""`stylelock qc` against painted keyframes, end to end on EXRs: keyframe fidelity, fine texture and
invented structure, on the moving-disc plate whose right answers are known (`tests/moving_object.py`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moving_object import Scene

from stylelock.core.colour import ModelSpaceCodec, resolve_config
from stylelock.core.exr import ExrImage, ExrPart, Window, write_exr
from stylelock.server.cli import main

FIRST = 1001
BARS = ("--max-keyframe-delta-e", "1.0", "--min-texture-ratio", "0.85", "--max-invented", "0.5")


def _write(path: Path, model: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> None:
    """A model-space (display-referred) picture as a scene-linear EXR through the bundled config."""
    codec = ModelSpaceCodec(resolve_config(None))
    h, w = model.shape[:2]
    _, state = codec.encode(np.zeros((h, w, 3), np.float32), None)
    linear = codec.decode(np.clip(model, 0, 1).astype(np.float32), state)
    pixels = {c: linear[..., i].astype(np.float32) for i, c in enumerate("RGB")}
    pixels.update(extra or {})
    window = Window(0, 0, w, h)
    part = ExrPart(list(pixels), pixels, window, window, 1.0, "zip", None, {})
    write_exr(path, ExrImage(parts=[part]))


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("qc_paint")
    scene = Scene(speed=6.0, frames=12, width=200)
    outputs = {
        "carried": scene.carried(),
        "wake": scene.wake(tint=0.35),
        "soft": [cv2.GaussianBlur(f, (0, 0), 0.7) for f in scene.carried()],
    }
    for t in range(scene.frames):
        n = FIRST + t
        if t + 1 < scene.frames:
            _, fore = scene.flows(t + 1)
        else:
            fore = np.zeros((scene.height, scene.width, 2), np.float32)
        back = scene.flows(t)[0] if t else np.zeros_like(fore)
        vectors = {
            "forward.u": fore[..., 0],
            "forward.v": -fore[..., 1],
            "backward.u": back[..., 0],
            "backward.v": -back[..., 1],
        }
        _write(root / f"plate.{n}.exr", scene.plate(t), vectors)
        for name, frames in outputs.items():
            (root / name).mkdir(exist_ok=True)
            _write(root / name / f"out.{n}.exr", frames[t])
    _write(root / "paint.exr", scene.paint(0))
    return {
        "root": str(root),
        "plate": str(root / "plate.####.exr"),
        **{name: str(root / name / "out.####.exr") for name in outputs},
        "paint": f"{FIRST}={root / 'paint.exr'}",
    }


def _qc(shot: dict[str, str], output: str, report: Path, *extra: str) -> tuple[int, dict]:
    code = main(
        ["qc", shot["plate"], shot[output], "--style", shot["paint"], *extra, "--report", str(report)]
    )
    return code, json.loads((report / "qc.json").read_text())


def test_the_carried_painting_meets_the_paint_bars(shot: dict[str, str], tmp_path: Path) -> None:
    code, data = _qc(shot, "carried", tmp_path, *BARS)
    assert code == 0, data["checks"]
    assert data["keyframes"] == [FIRST]
    assert data["fidelity"][str(FIRST)] < 1.0
    assert data["texture"]["worst"] >= 0.85
    assert data["texture_whole_frame"]["worst"] is not None  # reported beside the gated figure
    assert abs(data["texture_carried_paint"]["worst"] - data["texture"]["worst"]) < 0.05  # an ideal carry
    assert data["invented"]["worst"] < 0.005
    assert all(f["invented"]["fraction"] is not None for f in data["per_frame"])
    page = (tmp_path / "qc.html").read_text()
    assert "Invented structure" in page and "Fine texture" in page


def test_a_wake_fails_invented_structure_and_the_page_shows_it(shot: dict[str, str], tmp_path: Path) -> None:
    code, data = _qc(shot, "wake", tmp_path, *BARS)
    assert code == 10
    failed = [c["name"] for c in data["checks"] if not c["passed"]]
    assert failed == ["invented structure (worst frame, % of the frame)"]
    assert data["invented"]["worst"] > 0.02 and data["invented"]["worst_frame"] > FIRST + 6
    page = (tmp_path / "qc.html").read_text()
    assert page.count("% invented; crop at") == 3  # plate, output and the marked crop of the worst frame


def test_a_softened_output_fails_fidelity_and_texture(shot: dict[str, str], tmp_path: Path, capsys) -> None:
    code, data = _qc(shot, "soft", tmp_path, *BARS)
    assert code == 10
    failed = {c["name"] for c in data["checks"] if not c["passed"]}
    assert failed == {
        "keyframe fidelity (mean CIEDE2000 against the paint, worst keyframe)",
        "carried fine-texture ratio (worst frame, against its keyframe's paint)",
    }
    assert data["fidelity"][str(FIRST)] > 1.0 and data["texture"]["worst"] < 0.85
    printed = capsys.readouterr().out
    assert (
        "carried fine-texture ratio (worst frame, against its keyframe's paint): " in printed
        and ">= 0.85" in printed
    )


def test_paint_gates_without_a_painted_keyframe_are_refused(shot: dict[str, str], capsys) -> None:
    for flag in ("--max-invented", "--min-texture-ratio", "--max-keyframe-delta-e"):
        assert main(["qc", shot["plate"], shot["carried"], flag, "0.5"]) == 2
        assert f"--{flag[2:]} compares the output with its painted keyframes" in capsys.readouterr().err
    # a keyframe outside the range is no keyframe for these gates either
    args = ["qc", shot["plate"], shot["carried"], "--frames", "1003-1006", "--style", shot["paint"]]
    assert main([*args, "--max-invented", "0.5"]) == 2


def test_several_keyframes_are_all_compared(shot: dict[str, str], tmp_path: Path) -> None:
    second = Path(shot["root"]) / "second.exr"
    scene = Scene(speed=6.0, frames=12, width=200)
    _write(second, scene.carried()[11])
    code, data = _qc(shot, "carried", tmp_path, "--style", f"{FIRST + 11}={second}", *BARS)
    assert code == 0, data["checks"]
    assert data["keyframes"] == [FIRST, FIRST + 11]
    assert set(data["fidelity"]) == {str(FIRST), str(FIRST + 11)} and data["fidelity"][str(FIRST + 11)] < 0.5
    assert data["per_frame"][-1]["invented"]["keyframe"] == FIRST + 11


def test_a_flat_colour_paint_is_measured_without_a_texture_figure(
    shot: dict[str, str], tmp_path: Path
) -> None:
    """A paint with no fine texture has none to keep: QC still measures fidelity and invented
    structure instead of stopping, and a texture gate asked for fails as unmeasured."""
    flat = tmp_path / "flat.exr"
    _write(flat, np.full((112, 200, 3), 0.4, np.float32))
    style = f"{FIRST}={flat}"
    args = ["qc", shot["plate"], shot["carried"], "--style", style, "--report", str(tmp_path / "r")]
    assert main([*args, "--max-keyframe-delta-e", "100"]) == 0
    data = json.loads((tmp_path / "r" / "qc.json").read_text())
    assert data["texture"]["worst"] is None and data["texture_whole_frame"]["worst"] is None
    assert data["fidelity"][str(FIRST)] > 1.0
    assert main([*args, "--min-texture-ratio", "0.85"]) == 10
    data = json.loads((tmp_path / "r" / "qc.json").read_text())
    check = next(c for c in data["checks"] if c["name"].startswith("carried fine-texture"))
    assert check["value"] is None and not check["passed"]
