"""The pipeline tells an engine every frame of the plate on disk, not only the job's (a farm chunk,
a resumed job), so shot-wide measurements do not depend on how the shot was cut into jobs."""

from __future__ import annotations

import numpy as np
import pytest

from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.core.sample import write_sample_plate
from stylelock.server import pipeline
from stylelock.server.engines.base import ModelFrame, ShotContext
from stylelock.server.pipeline import run_job


@pytest.fixture
def shots(monkeypatch) -> list[ShotContext]:
    """Every ShotContext the pipeline hands an engine, in order."""
    seen: list[ShotContext] = []
    build = pipeline._JobRun._shot_context

    def recording(self, engine, frames):
        shot = build(self, engine, frames)
        seen.append(shot)
        return shot

    monkeypatch.setattr(pipeline._JobRun, "_shot_context", recording)
    return seen


def test_a_chunk_is_told_every_frame_of_the_plate_on_disk(tmp_path, shots):
    folder = tmp_path / "plate"
    plate = write_sample_plate(folder, frames="1001-1004,1006", width=32, height=16)  # 1005 is a hole
    (folder / "plate.01007.exr").write_bytes(b"")  # other padding: not frame 1007 of plate.####.exr
    (folder / "plate.1008.exr.tmp").write_bytes(b"")
    (folder / "plate.1009").mkdir()  # a folder, not a frame
    out = OutputSettings(pattern=str(folder / "styled.####.exr"))  # outputs beside the plate

    def run(frames: str) -> ShotContext:
        run_job(JobSpec(plate=plate, frames=frames, engine="passthrough", output=out))
        return shots[-1]

    chunk = run("1003-1004")
    assert chunk.frames == (1003, 1004)
    assert chunk.plate_frames == (1001, 1002, 1003, 1004, 1006)
    assert chunk.plate_or_job_frames == chunk.plate_frames
    # Resumed: the job holds only the frames not yet written; the plate is still the whole shot.
    resumed = run("1001-1004,1006")
    assert resumed.frames == (1001, 1002, 1006)
    assert resumed.plate_frames == (1001, 1002, 1003, 1004, 1006)


def test_a_hand_built_context_falls_back_to_the_jobs_frames():
    frame = ModelFrame(number=7, rgb=np.zeros((2, 2, 3), np.float32))
    shot = ShotContext(job_id="t", frames=(9, 7, 8), styles=(), params={}, load_frame=lambda n: frame)
    assert shot.plate_frames == ()
    assert shot.plate_or_job_frames == (7, 8, 9)
