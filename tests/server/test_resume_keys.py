"""Resume follows content: an output frame is redone exactly when a plate frame it is made from
changed, whatever the plate's path, and each engine's temporal contract says which frames those are."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from stylelock.core.exr import read_exr, write_exr
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.core.sample import write_sample_plate
from stylelock.core.temporal import frame_inputs
from stylelock.server.cli.demo import paint_over
from stylelock.server.engines.base import ShotPlan
from stylelock.server.engines.keyframe import KeyframeEngine
from stylelock.server.pipeline import JobObserver, run_job
from stylelock.server.resume import ContentDigests

FRAMES = list(range(1001, 1009))


class Started(JobObserver):
    def __init__(self) -> None:
        self.frames: list[int] = []

    def frame_started(self, job_id: str, frame: int) -> None:
        self.frames.append(frame)


def rerun(spec: JobSpec) -> list[int]:
    observer = Started()
    run_job(spec, observer=observer)
    return observer.frames


def alter(path: Path) -> None:
    """Rewrite one plate frame under its own name with different pixels (a re-render upstream)."""
    image = read_exr(path)
    part = image.main
    part.pixels["R"] = (part.pixels["R"].astype(np.float32) * 0.5).astype(part.pixels["R"].dtype)
    write_exr(path, image)


def pixels(path: Path) -> dict[str, bytes]:
    part = read_exr(path).main
    return {name: np.ascontiguousarray(values).tobytes() for name, values in part.pixels.items()}


@pytest.fixture
def plate(tmp_path: Path) -> Path:
    write_sample_plate(tmp_path / "plate", frames=FRAMES, width=96, height=54)
    return tmp_path / "plate"


def test_a_plate_rewritten_with_the_same_bytes_or_moved_is_not_redone(plate: Path, tmp_path: Path):
    spec = JobSpec(
        plate=str(plate / "plate.####.exr"),
        frames="1001-1008",
        engine="passthrough",
        output=OutputSettings(pattern=str(tmp_path / "out" / "o.####.exr")),
    )
    assert rerun(spec) == FRAMES
    for frame in FRAMES:  # a re-render that gives the same bytes: new files, new times
        path = plate / f"plate.{frame}.exr"
        shutil.copyfile(path, tmp_path / "copy.exr")
        (tmp_path / "copy.exr").replace(path)
    assert rerun(spec) == []
    moved = tmp_path / "moved"
    plate.rename(moved)
    assert rerun(spec.with_changes(plate=str(moved / "plate.####.exr"))) == []


def test_one_changed_plate_frame_redoes_that_frame_alone_with_passthrough(plate: Path, tmp_path: Path):
    spec = JobSpec(
        plate=str(plate / "plate.####.exr"),
        frames="1001-1008",
        engine="passthrough",
        output=OutputSettings(pattern=str(tmp_path / "out" / "o.####.exr")),
    )
    run_job(spec)
    alter(plate / "plate.1004.exr")
    assert rerun(spec) == [1004]
    assert pixels(tmp_path / "out" / "o.1004.exr")["R"] == pixels(plate / "plate.1004.exr")["R"]


def test_keyframe_redoes_the_frames_its_contract_ties_to_a_changed_frame_and_they_match_a_fresh_run(
    plate: Path, tmp_path: Path
):
    pattern = str(plate / "plate.####.exr")
    styles = tuple(
        StyleReference(str(paint_over(pattern, k, tmp_path / "paint" / f"p.{k}.exr")), k)
        for k in (1001, 1005)
    )
    spec = JobSpec(
        plate=pattern,
        frames="1001-1008",
        engine="keyframe",
        styles=styles,
        params={"levels": 2},
        output=OutputSettings(pattern=str(tmp_path / "out" / "o.####.exr")),
    )
    run_job(spec)
    alter(plate / "plate.1003.exr")
    # keyframes 1001 and 1005: 1002-1004 are made from 1001..1005; 1006-1008 from 1005 on
    assert rerun(spec) == [1002, 1003, 1004]
    fresh = spec.with_changes(output=OutputSettings(pattern=str(tmp_path / "fresh" / "f.####.exr")))
    run_job(fresh)
    for frame in FRAMES:  # what was skipped is exactly what a fresh run on the new plate makes
        assert pixels(tmp_path / "out" / f"o.{frame}.exr") == pixels(tmp_path / "fresh" / f"f.{frame}.exr")


@pytest.mark.parametrize(
    ("frame", "styles", "params", "expected"),
    [
        (1003, (1001, 1006), {}, [1001, 1002, 1003, 1004, 1005, 1006]),
        (1001, (1001, 1006), {}, [1001]),
        (1008, (1001, 1006), {}, [1006, 1007, 1008]),
        (1002, (1004,), {}, [1002, 1003, 1004]),  # before the first keyframe: carried backward
        (1004, (1001, 1006), {"blend": "nearest"}, [1004, 1005, 1006]),
        (1003, (1001, 1006), {"blend": "nearest"}, [1001, 1002, 1003]),
        (1003, (None,), {}, [1001, 1002, 1003]),  # a look image lands on the plate's first frame
        (1003, (None,), {"look_frame": 1005}, [1003, 1004, 1005]),
    ],
)
def test_keyframe_contract(frame, styles, params, expected):
    plan = ShotPlan(tuple(FRAMES), styles, {**KeyframeEngine.params.defaults(), **params})
    assert frame_inputs("keyframes", frame, plan.plate_frames, plan.style_frames, plan.params) == expected
    assert KeyframeEngine.temporal == "keyframes"


def test_content_digests_follow_bytes_and_notice_a_rewrite(tmp_path: Path):
    digests = ContentDigests()
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 100)
    first = digests.digest(str(path))
    assert digests.digest(str(path)) == first
    path.write_bytes(b"b" * 101)
    assert digests.digest(str(path)) != first
    assert digests.digest(str(tmp_path / "absent.bin")) == "missing"


def test_keys_follow_the_colour_config_by_content_and_masks_by_content(plate: Path, tmp_path: Path):
    from stylelock.core.jobspec import ColourSettings
    from stylelock.ocio_configs import BUNDLED_CONFIG

    def keys(spec: JobSpec) -> dict[int, str]:
        from stylelock.server.engine_cache import EngineCache
        from stylelock.server.pipeline import _JobRun, prepare_job

        prepared = prepare_job(spec)
        run = _JobRun(prepared, "k", JobObserver(), None, EngineCache(), None)
        return run._frame_keys(run.engines.get(prepared.engine))

    base = JobSpec(
        plate=str(plate / "plate.####.exr"),
        frames="1001-1002",
        engine="passthrough",
        output=OutputSettings(pattern=str(tmp_path / "out" / "o.####.exr")),
    )
    here = tmp_path / "a" / "config.ocio"
    there = tmp_path / "b" / "config.ocio"
    for path in (here, there):
        path.parent.mkdir()
        shutil.copyfile(BUNDLED_CONFIG, path)
    at_here = keys(base.with_changes(colour=ColourSettings(config=str(here))))
    assert keys(base.with_changes(colour=ColourSettings(config=str(there)))) == at_here  # same content
    there.write_text(there.read_text().replace("StyleLock bundled config", "A studio's edit", 1))
    assert keys(base.with_changes(colour=ColourSettings(config=str(there)))) != at_here  # edited
    assert keys(base.with_changes(proxy=1)) == keys(base.with_changes(proxy=1.0))
    for folder in ("m1", "m2"):  # the same matte files in two places
        (tmp_path / folder).mkdir()
        for frame in FRAMES:
            shutil.copyfile(plate / f"plate.{frame}.exr", tmp_path / folder / f"m.{frame}.exr")
    in_m1 = keys(base.with_changes(mask=str(tmp_path / "m1" / "m.####.exr")))
    assert keys(base.with_changes(mask=str(tmp_path / "m2" / "m.####.exr"))) == in_m1
