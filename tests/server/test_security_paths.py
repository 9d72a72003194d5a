"""Paths are checked where they are opened, not only at submit, and outputs never name inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from grpc_fixtures import SlowEngine, register_engine, serve, tiny_plate, wait_for

from stylelock.core.client import StyleLockClient
from stylelock.core.errors import SpecError
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.server.pipeline import prepare_job


@pytest.fixture
def shot(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "shared"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.exr").write_bytes(b"not for the server")
    plate = tiny_plate(root / "plate", frames="1001-1003")
    return {"root": root, "outside": outside, "plate": Path(plate)}


def _job(shot: dict[str, Path], out: Path, engine: str = "passthrough", **params) -> JobSpec:
    return JobSpec(str(shot["plate"]), "1001-1003", engine, params=params, output=OutputSettings(str(out)))


def _while_queued(shot, monkeypatch, change, spec: JobSpec) -> tuple[str, str]:
    """Submit `spec` behind a slow job (so it waits in the queue), `change` the disk, let it run."""
    register_engine(monkeypatch, SlowEngine)
    with (
        serve(allow_roots=[shot["root"]], max_active_jobs=1) as (server, address),
        StyleLockClient(address) as c,
    ):
        blocker = c.submit(_job(shot, shot["root"] / "b" / "b.####.exr", SlowEngine.name, delay=0.4))
        job = c.submit(spec)
        assert server.manager.get(job).state == "queued"
        change()
        events = list(c.watch(job))
        list(c.watch(blocker))
        return events[-1].kind, events[-1].message


def test_a_plate_frame_swapped_for_a_symlink_while_queued_is_not_read(shot, monkeypatch):
    frame = shot["plate"].parent / "plate.1002.exr"

    def swap() -> None:
        frame.unlink()
        frame.symlink_to(shot["outside"] / "secret.exr")

    kind, message = _while_queued(shot, monkeypatch, swap, _job(shot, shot["root"] / "o" / "o.####.exr"))
    assert kind == "error" and "plate frame" in message and "outside the server's allowed roots" in message


def test_an_output_folder_swapped_for_a_symlink_while_queued_is_not_written(shot, monkeypatch):
    out = shot["root"] / "o"
    out.mkdir()

    def swap() -> None:
        shutil.rmtree(out)
        out.symlink_to(shot["outside"], target_is_directory=True)

    kind, message = _while_queued(shot, monkeypatch, swap, _job(shot, out / "o.####.exr"))
    assert kind == "error" and "output frame" in message
    assert sorted(p.name for p in shot["outside"].iterdir()) == ["secret.exr"]  # nothing written there


SPELLINGS = ["plate.#.exr", "plate.%d.exr", "plate.@.exr", "plate.$F.exr", "through-link/plate.####.exr"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_outputs_never_name_the_plate_however_spelled(shot, spelling):
    plate_dir = shot["plate"].parent
    (plate_dir.parent / "through-link").symlink_to(plate_dir, target_is_directory=True)
    spec = _job(shot, plate_dir.parent / spelling if "/" in spelling else plate_dir / spelling)
    with pytest.raises(SpecError, match="would overwrite plate frame"):
        prepare_job(spec)


def test_outputs_never_name_a_style_reference(shot):
    style = shot["root"] / "paint.1001.exr"
    shutil.copyfile(shot["plate"].parent / "plate.1001.exr", style)
    spec = _job(shot, shot["root"] / "paint.####.exr").with_changes(frames="1001")
    spec = spec.with_changes(styles=(StyleReference(str(style), 1001),))
    with pytest.raises(SpecError, match="would overwrite a style reference"):
        prepare_job(spec)


def test_a_job_whose_paths_hold_runs(shot):
    with serve(allow_roots=[shot["root"]]) as (_, address), StyleLockClient(address) as client:
        job = client.submit(_job(shot, shot["root"] / "o" / "o.####.exr"))
        assert [e.kind for e in client.watch(job)][-1] == "finished"
    wait_for(lambda: (shot["root"] / "o" / "o.1003.exr").exists())
