"""Plates whose passes sit in parts of their own, as Blender 5 writes a multilayer render.

Blender 4.x writes `ViewLayer.Combined.R`, `ViewLayer.Vector.X`, ... into one part; Blender 5 writes
one part per pass (`ViewLayer.Combined`, `ViewLayer.Depth`, `ViewLayer.Vector`). The engine and
`stylelock qc` must find the Vector pass either way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from exr_fixtures import write_test_exr

from stylelock.core.exr import read_exr
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.core.qc import run_qc
from stylelock.server.pipeline import run_job

LAYER = "ViewLayer.Combined"
W, H, SHIFT = 48, 32, 2


def _frame(frame: int) -> dict[str, np.ndarray]:
    """A textured square moving right by SHIFT px a frame over a soft background."""
    rng = np.random.default_rng(7)
    texture = rng.uniform(0.2, 3.0, (H, W + 40, 3)).astype(np.float32)
    x0 = SHIFT * (frame - 1001)
    rgb = texture[:, x0 : x0 + W]
    return {
        f"{LAYER}.R": rgb[..., 0].copy(),
        f"{LAYER}.G": rgb[..., 1].copy(),
        f"{LAYER}.B": rgb[..., 2].copy(),
        f"{LAYER}.A": np.full((H, W), 0.75, np.float32),
    }


def blender5_plate(folder: Path, frames: range) -> str:
    """Frames laid out like Blender 5.0's multilayer EXR: Combined, Depth and Vector as three parts.

    Blender's vectors: (X, Y) = p_{t-1} - p_t, (Z, W) = p_t - p_{t+1}, y up (content moves left here,
    because the window slides right over the texture).
    """
    folder.mkdir(parents=True, exist_ok=True)
    full = np.ones((H, W), np.float32)
    for frame in frames:
        write_test_exr(
            folder / f"plate.{frame:04d}.exr",
            _frame(frame),
            name=LAYER,
            parts=[
                {"name": "ViewLayer.Depth", "channels": {"ViewLayer.Depth.Z": full * 9.0}},
                {
                    "name": "ViewLayer.Vector",
                    "channels": {
                        "ViewLayer.Vector.X": full * SHIFT,
                        "ViewLayer.Vector.Y": full * 0.0,
                        "ViewLayer.Vector.Z": full * SHIFT,
                        "ViewLayer.Vector.W": full * 0.0,
                    },
                },
            ],
        )
    return str(folder / "plate.####.exr")


def test_the_vector_pass_in_a_part_of_its_own_feeds_the_engine_and_qc(tmp_path: Path) -> None:
    plate = blender5_plate(tmp_path / "plate", range(1001, 1005))
    image = read_exr(plate.replace("####", "1002"))
    assert [p.name for p in image.parts] == [LAYER, "ViewLayer.Depth", "ViewLayer.Vector"]
    beside = image.channels_beside(image.main)
    assert sorted(beside) == sorted(["ViewLayer.Depth.Z", *(f"ViewLayer.Vector.{c}" for c in "XYZW")])

    style = tmp_path / "paint.1001.exr"
    write_test_exr(style, {k.rpartition(".")[2]: v * 0.5 for k, v in _frame(1001).items()})
    out = tmp_path / "out" / "styled.####.exr"
    spec = JobSpec(
        plate=plate,
        frames="1001-1004",
        engine="keyframe",
        # flow=vectors fails the job when a frame carries no vectors the engine can find.
        params={"flow": "vectors", "mode": "styleblit"},
        styles=(StyleReference(str(style), 1001),),
        output=OutputSettings(str(out)),
        layer=LAYER,
    )
    run_job(spec)
    result = read_exr(str(out).replace("####", "1003"))
    assert [p.name for p in result.parts] == [LAYER, "ViewLayer.Depth", "ViewLayer.Vector"]
    np.testing.assert_array_equal(
        result.parts[2].pixels["ViewLayer.Vector.X"], image.parts[2].pixels["ViewLayer.Vector.X"]
    )

    report = run_qc(plate, str(out), "1001-1004", layer=LAYER)
    assert report.flow_sources == ["vectors:Vector"]


def test_parts_of_another_size_are_not_taken_as_the_frame_s_passes(tmp_path: Path) -> None:
    path = tmp_path / "mixed.exr"
    write_test_exr(
        path,
        _frame(1001),
        name=LAYER,
        parts=[
            {
                "name": "crop",
                "channels": {"crop.Y": np.zeros((4, 4), np.float32)},
                "data_window": (0, 0, 4, 4),
                "display_window": (0, 0, W, H),
            }
        ],
    )
    image = read_exr(str(path))
    assert [p.data_window.width for p in image.parts] == [W, 4]
    assert image.channels_beside(image.main) == {}
