"""`bench/keyframe_probe.py`: the developer's look inside a keyframe QC bench plate.

Its heat maps are only worth reading if they show the error QC gates on: the ratio each map
stands for must be QC's own figure for that frame (same decoding, flow, low-pass and masks,
the long term chained as QC chains it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import keyframe_probe  # noqa: E402 - bench/ is not a package


@pytest.fixture(scope="module")
def probed(tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("probe")
    report = keyframe_probe.probe("sample_480x270", folder, "1001-1004")
    return folder, report


def test_the_probe_keeps_the_run_and_tabulates_every_frame(probed) -> None:
    folder, report = probed
    assert (folder / "qc" / "qc.html").is_file() and (folder / "figures.json").is_file()
    assert len(list((folder / "out").glob("styled.*.exr"))) == 4
    rows = (folder / "per_frame.tsv").read_text().splitlines()
    assert rows[0].split("\t") == list(keyframe_probe.COLUMNS)
    assert [r.split("\t")[0] for r in rows[1:]] == ["1001", "1002", "1003", "1004"]
    short = float(rows[-1].split("\t")[1])
    assert short == pytest.approx(report.per_frame[-1].temporal.short.ratio_lowpass, abs=1e-3)


def test_the_maps_measure_what_qc_measured(probed) -> None:
    from stylelock.core.jobspec import StyleReference
    from stylelock.core.qc import run_qc

    folder, report = probed
    again = keyframe_probe.probe("sample_480x270", folder, qc_only=True)  # the folder's own range
    assert [f.frame for f in again.per_frame] == [1001, 1002, 1003, 1004]
    maps = keyframe_probe.error_maps(folder, 1004, long_k=2)
    assert maps["short"][0] == pytest.approx(report.per_frame[-1].temporal.short.ratio_lowpass, rel=1e-4)
    chained = run_qc(
        str(folder / "plate" / "plate.####.exr"),
        str(folder / "out" / "styled.####.exr"),
        "1001-1004",
        style=StyleReference(str(folder / "painted.1001.exr"), 1001),
        analysis_size=keyframe_probe.analysis_size(folder, 1001),
        long_k=2,
    )
    assert maps["long"][0] == pytest.approx(chained.per_frame[-1].temporal.long.ratio_lowpass, rel=1e-4)
    import cv2

    heat = cv2.imread(str(maps["short"][1]))
    w = heat.shape[1]
    assert w == 3 * (w // 3) and heat[:, w // 3 : 2 * w // 3].max() > 0  # output | its error | plate's
    assert np.count_nonzero(heat[:, w // 3 :]) < heat[:, w // 3 :].size  # not all heat: masks apply


def test_a_trial_parameter_reaches_the_engine_and_is_recorded(probed, tmp_path) -> None:
    """``--param`` restyles with another engine parameter: the figures say which, and the output
    is not the default run's."""
    import json

    from stylelock.core.exr import read_exr

    default_folder, _ = probed
    keyframe_probe.probe("sample_480x270", tmp_path, "1001-1004", params={"temporal_weight": "6"})
    assert json.loads((tmp_path / "figures.json").read_text())["params"] == {"temporal_weight": "6"}
    assert json.loads((default_folder / "figures.json").read_text())["params"] == {}
    trial, default = (
        read_exr(str(f / "out" / "styled.1004.exr")).main.pixels["R"] for f in (tmp_path, default_folder)
    )
    assert not np.array_equal(trial, default)
    with pytest.raises(SystemExit):  # NAME=VALUE, or a one-line usage error
        keyframe_probe.main(["sample_480x270", "--param", "temporal_weight"])


def test_carried_writes_the_benchs_reference_instead_of_the_engines_output(probed, tmp_path) -> None:
    """``--carried``: the paint carried by the motion alone (no engine). At the keyframe both are the
    paint; on the frames after it they differ, and the figures say which output they measured."""
    import json

    from stylelock.core.exr import read_exr

    engine_folder, _ = probed
    keyframe_probe.probe("sample_480x270", tmp_path, "1001-1004", carried=True)
    record = json.loads((tmp_path / "figures.json").read_text())
    assert record["output"] == "carried paint" and record["seconds_per_frame"] is None
    assert json.loads((engine_folder / "figures.json").read_text())["output"] == "engine"

    def red(folder, frame):
        return read_exr(str(folder / "out" / f"styled.{frame}.exr")).main.pixels["R"]

    assert np.array_equal(red(tmp_path, 1001), red(engine_folder, 1001))
    assert not np.array_equal(red(tmp_path, 1004), red(engine_folder, 1004))
    with pytest.raises(SystemExit):  # nothing for an engine parameter to change
        keyframe_probe.main(["sample_480x270", "--carried", "--param", "temporal_weight=6"])


def test_a_trial_in_a_used_folder_restyles_again(tmp_path) -> None:
    """A second trial in the same folder runs the engine again: a job's resume would keep the
    first trial's frames (its key knows the parameters, not the engine's code being tried)."""
    keyframe_probe.probe("sample_480x270", tmp_path, "1001-1003")
    frame = tmp_path / "out" / "styled.1003.exr"
    first = frame.stat().st_mtime_ns
    keyframe_probe.probe("sample_480x270", tmp_path, "1001-1003")
    assert frame.stat().st_mtime_ns != first


def test_the_invented_maps_show_what_qc_counted(tmp_path) -> None:
    """The paint carried by the motion alone leaves a wake behind the moving leaf (QC counts it
    from 1004 on the 480x270 plate): each map's share is QC's figure for its frame, and exactly
    that share of the output panel is tinted, the plate panel not at all."""
    import cv2

    from stylelock.core.errors import FramesMissingError
    from stylelock.core.qc.run import _Reader

    report = keyframe_probe.probe("sample_480x270", tmp_path, "1001-1005", carried=True)
    qc = {f.frame: f.invented.fraction for f in report.per_frame}
    maps = keyframe_probe.invented_maps(tmp_path, [1002, 1005])
    assert sorted(maps) == [1002, 1005]
    assert maps[1002][0] == qc[1002] == 0.0
    assert maps[1005][0] == qc[1005] and qc[1005] > 0.001  # the wake, a known answer

    reader = _Reader(None, None, "", keyframe_probe.analysis_size(tmp_path, 1001))

    def panels(frame: int) -> tuple[np.ndarray, np.ndarray]:
        image = cv2.imread(str(maps[frame][1]))
        w = image.shape[1] // 2
        return image[:, :w], image[:, w:]

    def untinted(path: Path) -> np.ndarray:
        model = reader.read(str(path), with_vectors=False).model
        return (np.clip(model[..., 2::-1], 0.0, 1.0) * 255).round().astype(np.uint8)

    for frame in (1002, 1005):
        plate, output = panels(frame)
        assert np.array_equal(plate, untinted(tmp_path / "plate" / f"plate.{frame}.exr"))
        tinted = (output != untinted(tmp_path / "out" / f"styled.{frame}.exr")).any(axis=-1)
        assert tinted.mean() == pytest.approx(qc[frame], abs=20 / tinted.size)
    with pytest.raises(FramesMissingError):  # a frame the folder does not hold
        keyframe_probe.invented_maps(tmp_path, [1006])
