"""Pipeline behaviour beyond the round trip: proxy, masks, resume, cancel, warnings, engine contract."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from exr_fixtures import random_plate_channels, write_test_exr

from stylelock.core.errors import JobCancelledError, PlateMismatchError
from stylelock.core.exr import read_exr
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.core.sample import write_sample_plate
from stylelock.server.engines import BUILTIN_ENGINES
from stylelock.server.pipeline import FrameDone, JobObserver, run_job

FRAMES = "1001-1006"


@pytest.fixture(scope="module")
def plate(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("plate")
    return write_sample_plate(folder, frames=list(range(1001, 1007)), width=64, height=40)


@pytest.fixture(autouse=True)
def test_engines(monkeypatch):
    for name in ("InvertEngine", "BatchingEngine", "ShortEngine"):
        engine_name = {"InvertEngine": "test-invert", "BatchingEngine": "test-batching"}.get(
            name, "test-short"
        )
        monkeypatch.setitem(BUILTIN_ENGINES, engine_name, f"pipeline_engines:{name}")


class Recorder(JobObserver):
    def __init__(self, cancel_after: int | None = None, cancel: threading.Event | None = None):
        self.started: list[int] = []
        self.done: list[FrameDone] = []
        self.warnings: list[tuple[str, int | None]] = []
        self.cancel_after = cancel_after
        self.cancel = cancel

    def frame_started(self, job_id, frame):
        self.started.append(frame)

    def frame_done(self, job_id, result):
        self.done.append(result)
        if self.cancel_after is not None and len(self.done) >= self.cancel_after:
            self.cancel.set()

    def warning(self, job_id, message, frame):
        self.warnings.append((message, frame))


def spec_for(plate: str, out: str, **changes) -> JobSpec:
    return JobSpec(plate=plate, frames=FRAMES, output=OutputSettings(pattern=out), **changes)


def rgb(path) -> np.ndarray:
    return read_exr(path).main.rgb()


def test_proxy_runs_small_and_returns_full_size_marked_as_proxy(plate, tmp_path):
    out = tmp_path / "p.####.exr"
    run_job(spec_for(plate, str(out), engine="passthrough", proxy=0.5))
    source = read_exr(plate.replace("####", "1003")).main
    result = read_exr(str(out).replace("####", "1003")).main
    assert result.data_window == source.data_window
    assert result.attributes["stylelock:proxy"] == "0.5"
    for name in source.channels:
        if name not in "RGB":
            assert np.array_equal(result.pixels[name], source.pixels[name], equal_nan=True)
    difference = np.abs(result.rgb() - source.rgb())
    assert difference.max() > 0  # really went through a smaller picture
    low = np.clip(source.rgb(), 0, 1).ravel()  # highlights are restored from the plate anyway
    assert np.corrcoef(low, np.clip(result.rgb(), 0, 1).ravel())[0, 1] > 0.9


def test_mask_channel_restyles_inside_only(tmp_path):
    for frame in (1, 2):
        write_test_exr(tmp_path / f"plate.{frame}.exr", random_plate_channels(24, 40, seed=frame))
    out = tmp_path / "o" / "m.#.exr"
    spec = JobSpec(
        plate=str(tmp_path / "plate.#.exr"),
        frames="1-2",
        engine="test-invert",
        mask="A",
        output=OutputSettings(pattern=str(out)),
    )
    run_job(spec)
    run_job(spec.with_changes(mask="", output=OutputSettings(pattern=str(tmp_path / "o" / "u.#.exr"))))
    source = read_exr(tmp_path / "plate.2.exr").main
    result = read_exr(tmp_path / "o" / "m.2.exr").main
    unmasked = rgb(tmp_path / "o" / "u.2.exr")
    alpha = source.alpha()
    outside = alpha == 0
    inside = alpha >= 1
    assert outside.any() and inside.any()
    assert np.array_equal(result.rgb()[outside], source.rgb()[outside])
    assert np.array_equal(result.rgb()[inside], unmasked[inside])  # inside: what the engine made
    assert result.attributes["stylelock:mask"] == "A"


def test_mask_from_a_matte_sequence(plate, tmp_path):
    source = read_exr(plate.replace("####", "1001")).main
    height, width = source.data_window.height, source.data_window.width
    matte = np.zeros((height, width), np.float16)
    matte[:, : width // 2] = 1.0
    for frame in range(1001, 1007):
        write_test_exr(
            tmp_path / f"matte.{frame}.exr",
            {"R": matte, "G": matte, "B": matte, "A": matte},
            data_window=source.data_window,
        )
    out = tmp_path / "o" / "m.####.exr"
    run_job(spec_for(plate, str(out), engine="test-invert", mask=str(tmp_path / "matte.####.exr")))
    run_job(spec_for(plate, str(tmp_path / "o" / "u.####.exr"), engine="test-invert"))
    result = rgb(str(out).replace("####", "1001"))
    unmasked = rgb(tmp_path / "o" / "u.1001.exr")
    assert np.array_equal(result[:, width // 2 :], source.rgb()[:, width // 2 :])
    assert np.array_equal(result[:, : width // 2], unmasked[:, : width // 2])


def test_resume_redoes_only_missing_frames_and_changed_settings_redo_all(plate, tmp_path):
    out = tmp_path / "r.####.exr"
    spec = spec_for(plate, str(out), engine="test-invert")
    run_job(spec)
    (tmp_path / "r.1004.exr").unlink()
    recorder = Recorder()
    summary = run_job(spec, observer=recorder)
    assert recorder.started == [1004]
    assert sorted(summary.skipped) == [1001, 1002, 1003, 1005, 1006]
    recorder = Recorder()
    run_job(spec.with_changes(params={"gain": 0.5}), observer=recorder)
    assert recorder.started == list(range(1001, 1007))


def test_cancel_stops_within_a_frame_and_leaves_only_whole_frames(plate, tmp_path):
    cancel = threading.Event()
    recorder = Recorder(cancel_after=2, cancel=cancel)
    out = tmp_path / "c"
    with pytest.raises(JobCancelledError, match="cancelled after"):
        run_job(
            spec_for(plate, str(out / "c.####.exr"), engine="test-invert"), observer=recorder, cancel=cancel
        )
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 3 and all(name.startswith("c.") for name in files)
    for name in files:
        read_exr(out / name)  # every file left is a complete EXR


def test_non_finite_pixels_warn_with_frame_and_count_and_come_back(tmp_path):
    for frame in (1, 2):
        channels = random_plate_channels(16, 24, seed=frame, with_uint=False)
        if frame == 2:
            channels["R"][0, :5] = np.nan
            channels["B"][1, 0] = -np.inf
        write_test_exr(tmp_path / f"n.{frame}.exr", channels)
    recorder = Recorder()
    spec = JobSpec(
        plate=str(tmp_path / "n.#.exr"),
        frames="1-2",
        engine="test-invert",
        output=OutputSettings(pattern=str(tmp_path / "o" / "o.#.exr")),
    )
    run_job(spec, observer=recorder)
    assert [(frame, "6 pixels" in message) for message, frame in recorder.warnings] == [(2, True)]
    result = read_exr(tmp_path / "o" / "o.2.exr").main
    assert np.isnan(result.pixels["R"][0, :5].astype(np.float32)).all()
    assert np.isneginf(result.pixels["B"][1, 0])


def test_engines_that_read_ahead_are_matched_frame_by_frame(plate, tmp_path):
    run_job(spec_for(plate, str(tmp_path / "a" / "a.####.exr"), engine="test-batching"))
    run_job(spec_for(plate, str(tmp_path / "b" / "b.####.exr"), engine="passthrough"))
    for frame in range(1001, 1007):
        a = tmp_path / "a" / f"a.{frame}.exr"
        b = tmp_path / "b" / f"b.{frame}.exr"
        assert np.array_equal(rgb(a), rgb(b))


def test_an_engine_that_drops_frames_is_an_error_not_a_silent_gap(plate, tmp_path):
    with pytest.raises(PlateMismatchError, match="returned 5 frames for 6"):
        run_job(spec_for(plate, str(tmp_path / "s.####.exr"), engine="test-short"))


def test_reading_runs_ahead_of_the_engine_but_only_a_few_frames(plate, tmp_path, monkeypatch):
    from pipeline_engines import CountingEngine

    from stylelock.server import frames as frames_module
    from stylelock.server.pipeline import READ_AHEAD

    monkeypatch.setitem(BUILTIN_ENGINES, "test-counting", "pipeline_engines:CountingEngine")
    original = frames_module.FrameCodec.decode_file

    def counting(self, number, path):
        decoded = original(self, number, path)
        CountingEngine.decoded += 1
        return decoded

    monkeypatch.setattr(frames_module.FrameCodec, "decode_file", counting)
    CountingEngine.decoded, CountingEngine.seen = 0, []
    run_job(spec_for(plate, str(tmp_path / "c.####.exr"), engine="test-counting"))
    ahead = [decoded - consumed for consumed, decoded in CountingEngine.seen]
    assert max(ahead) >= 1  # the next frame was being read while the engine worked
    assert max(ahead) <= READ_AHEAD + 1  # and the plate never piles up in memory
