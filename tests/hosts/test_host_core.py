"""The host-agnostic layer every host plugin shares (`stylelock.core.hosts`), against a real server."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from grpc_fixtures import SlowEngine, partial_files, register_engine, serve, tiny_plate

from stylelock.core.client import StyleLockClient
from stylelock.core.errors import (
    FramesMissingError,
    OutputError,
    ServerUnavailableError,
    SpecError,
    UnknownEngineError,
)
from stylelock.core.hosts import job as host_job
from stylelock.core.hosts.cache import CACHE_ENV, CacheLayout, cache_root, prune, publish, safe_name, staging
from stylelock.core.hosts.fields import SavedValues, engine_names, job_params, param_fields
from stylelock.core.hosts.messages import MAX_LINE, one_line
from stylelock.core.hosts.preview import preview_spec
from stylelock.core.hosts.restyle import PanelSettings, build_spec, frames_to_render
from stylelock.core.hosts.styles import format_style_rows, parse_style_rows
from stylelock.core.jobspec import JobSpec, OutputSettings, StyleReference
from stylelock.server.info import server_info


@pytest.fixture(scope="module")
def info() -> dict:
    with serve() as (_, address), StyleLockClient(address) as client:
        return client.info()


def test_fields_come_from_the_published_schema_and_hide_nothing_but_the_device(info):
    assert engine_names(info)[:2] == ["keyframe", "diffusion-image"]
    fields = param_fields(info, "keyframe")
    local = next(e for e in server_info()["engines"] if e["name"] == "keyframe")["params"]
    assert [f.name for f in fields] == [p["name"] for p in local if p["name"] != "device"]
    published = next(p for p in local if p["name"] == "softness")
    softness = next(f for f in fields if f.name == "softness")
    assert softness.kind == "float" and softness.default == pytest.approx(published["default"])
    assert softness.slider_range() == pytest.approx((published["minimum"], published["maximum"]))
    mode = next(f for f in fields if f.name == "mode")
    assert mode.choices == ("ebsynth", "styleblit") and mode.label == "mode"
    assert next(f for f in fields if f.name == "patch_size").label == "patch size"
    for field in fields:
        low, high = field.slider_range() if field.kind in ("float", "int") else (0.0, 1.0)
        assert low <= high and high - low <= 1e6
    with pytest.raises(UnknownEngineError, match="offers no engine 'nope'"):
        param_fields(info, "nope")


def test_saved_values_survive_engine_switches_and_bad_values_fall_back(info):
    saved = SavedValues()
    saved.set("keyframe", "softness", 0.3)
    saved.set("keyframe", "mode", "no-such-mode")
    saved.set("diffusion-image", "strength", 0.25)
    restored = SavedValues(saved.to_text())
    keyframe = restored.values_for(param_fields(info, "keyframe"))
    assert keyframe["softness"] == pytest.approx(0.3) and keyframe["mode"] == "ebsynth"
    assert restored.values_for(param_fields(info, "diffusion-image"))["strength"] == pytest.approx(0.25)
    assert SavedValues("{not json").to_text() == "{}"


def test_job_params_hold_only_what_differs_from_the_defaults(info):
    fields = param_fields(info, "keyframe")
    values = SavedValues().values_for(fields)
    assert job_params(fields, values) == {}
    values.update(softness="0.5", patch_size=7.0)  # the default is 0
    assert job_params(fields, values) == {"softness": 0.5, "patch_size": 7}
    with pytest.raises(SpecError, match="patch_size"):
        job_params(fields, {"patch_size": 99})


def test_style_rows_parse_with_line_numbers():
    text = "# paint\n1001=/p/a.1001.exr\n\n 1020 = /p/b.exr \n/looks/look.png\n"
    styles = parse_style_rows(text)
    assert styles == (
        StyleReference("/p/a.1001.exr", 1001),
        StyleReference(" /p/b.exr".strip(), 1020),
        StyleReference("/looks/look.png", None),
    )
    assert parse_style_rows(format_style_rows(styles)) == styles
    with pytest.raises(SpecError, match="style rows 1 and 2 both paint frame 1001"):
        parse_style_rows("1001=a.exr\n1001=b.exr")
    with pytest.raises(SpecError, match="style row 3"):
        parse_style_rows("a.png\n\n1001=")


def test_cache_root_follows_the_scene_and_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert (
        cache_root(str(tmp_path / "shots" / "sh010 v3.nk"))
        == tmp_path / "shots" / "stylelock_cache" / "sh010_v3"
    )
    assert cache_root(None).name == "untitled"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "farm"))
    assert cache_root(str(tmp_path / "a.nk")) == tmp_path / "farm"
    layout = CacheLayout(tmp_path, "StyleLock1")
    assert layout.plate_pattern == str(tmp_path / "StyleLock1" / "plate" / "plate.####.exr")
    assert safe_name("../../etc") == "etc" and safe_name("") == "untitled"


def test_build_spec_describes_the_job_the_cli_would(info, tmp_path):
    layout = CacheLayout(tmp_path, "n")
    fields = param_fields(info, "keyframe")
    values = SavedValues().values_for(fields) | {"seed": 3}
    settings = PanelSettings(
        engine="keyframe",
        frames="1001-1005",
        values=values,
        style_rows="/refs/look.png",
        style_input_frames=(1001,),
        colorspace="ACEScg",
        layer="rgba",
    )
    spec = build_spec(settings, layout, fields)
    assert spec.plate == layout.plate_pattern and spec.output.pattern == layout.output_pattern
    assert dict(spec.params) == {"seed": 3} and spec.layer == "" and spec.colour.input_space == "ACEScg"
    assert spec.styles == (
        StyleReference(str(tmp_path / "n" / "style" / "style.1001.exr"), 1001),
        StyleReference("/refs/look.png", None),
    )
    with pytest.raises(SpecError, match="frame 1001 is painted both"):
        build_spec(
            PanelSettings("keyframe", "1001", style_rows="1001=x.exr", style_input_frames=(1001,)),
            layout,
            fields,
        )
    with pytest.raises(SpecError):
        build_spec(PanelSettings("keyframe", "10-x"), layout, fields)


def test_preview_is_the_same_job_around_the_frame_small_and_fast(info):
    spec = JobSpec(
        plate="/p.####.exr", frames="1001-1024", params={"seed": 2}, output=OutputSettings("/o.####.exr")
    )
    keyframe = next(e for e in info["engines"] if e["name"] == "keyframe")
    preview = preview_spec(spec, 1002, keyframe, "/pv.####.exr")
    assert preview.frames == "1001-1004" and preview.proxy == 0.5
    assert dict(preview.params) == {"seed": 2, "mode": "styleblit"}
    assert preview.output.pattern == "/pv.####.exr" and preview.plate == spec.plate
    with pytest.raises(SpecError, match="outside the job's range"):
        preview_spec(spec, 900, keyframe, "/pv.####.exr")


def test_one_line_keeps_messages_and_names_surprises():
    assert one_line(FramesMissingError("frames 1003 missing")) == "frames 1003 missing"
    assert one_line(KeyError("x")) == "internal error: KeyError: 'x'"
    assert "\n" not in one_line(SpecError("a\nb")) and len(one_line(SpecError("x" * 999))) == MAX_LINE


def _spec(plate: str, out: Path, engine: str = "passthrough") -> JobSpec:
    return JobSpec(
        plate=plate, frames="1001-1004", engine=engine, output=OutputSettings(str(out / "o.####.exr"))
    )


def test_remote_job_reports_every_frame_then_finishes_and_a_rerun_makes_nothing(tmp_path):
    plate = tiny_plate(tmp_path / "plate", frames="1001-1004")
    with serve(allow_roots=[tmp_path]) as (_, address):
        job = host_job.RemoteJob(address, _spec(plate, tmp_path / "out")).start()
        seen: list[int] = []
        while not (progress := job.poll()).ended:
            seen += progress.landed
            time.sleep(0.01)
        seen += progress.landed
        assert progress.state == host_job.FINISHED and progress.error is None
        assert sorted(seen) == [1001, 1002, 1003, 1004] and progress.computed == tuple(sorted(seen))
        assert progress.fraction == 1.0 and progress.job_id and "4 frames made" in progress.message
        again = host_job.RemoteJob(address, _spec(plate, tmp_path / "out")).start().wait(30)
        assert again.state == host_job.FINISHED and again.computed == () and len(again.done) == 4
        assert "0 frames made, 4 already up to date" in again.message


def test_remote_job_cancel_stops_the_server_job_and_leaves_whole_frames(tmp_path, monkeypatch):
    register_engine(monkeypatch, SlowEngine)
    plate = tiny_plate(tmp_path / "plate", frames="1001-1004")
    with serve(allow_roots=[tmp_path]) as (server, address):
        job = host_job.RemoteJob(address, _spec(plate, tmp_path / "out", engine=SlowEngine.name)).start()
        deadline = time.monotonic() + 20
        while not job.poll().job_id and time.monotonic() < deadline:
            time.sleep(0.01)
        job.cancel()
        progress = job.wait(30)
        assert progress.state == host_job.CANCELLED and "cancelled" in progress.message
        assert server.manager.get(progress.job_id).state == "cancelled"
        assert partial_files(tmp_path / "out") == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_remote_job_against_no_server_fails_with_one_clear_line(tmp_path):
    plate = tiny_plate(tmp_path / "plate", frames="1001-1002")
    progress = host_job.RemoteJob(f"127.0.0.1:{_free_port()}", _spec(plate, tmp_path / "o")).start().wait(30)
    assert progress.state == host_job.FAILED and isinstance(progress.error, ServerUnavailableError)
    assert (
        progress.message.startswith("cannot reach the StyleLock server at 127.0.0.1:")
        and "\n" not in progress.message
    )
    assert not os.path.exists(tmp_path / "o" / "o.1001.exr")


def test_frames_to_render_follow_the_engines_contract(info, tmp_path):
    layout = CacheLayout(tmp_path, "n")
    fields = param_fields(info, "keyframe")
    keyframe = next(e for e in info["engines"] if e["name"] == "keyframe")
    passthrough = next(e for e in info["engines"] if e["name"] == "passthrough")
    shot = list(range(1001, 1011))
    spec = build_spec(PanelSettings("keyframe", "1006-1007", style_rows="1003=/p.exr"), layout, fields)
    assert frames_to_render(spec, keyframe, fields, shot) == [1003, 1004, 1005, 1006, 1007]
    assert frames_to_render(spec.with_changes(engine="passthrough"), passthrough, [], shot) == [1006, 1007]
    early = build_spec(PanelSettings("keyframe", "1002", style_rows="990=/p.exr"), layout, fields)
    with pytest.raises(SpecError, match="needs plate frame 990, outside the input's range 1001-1010"):
        frames_to_render(early, keyframe, fields, shot)


def test_staged_frames_are_published_whole_and_stale_ones_pruned(tmp_path):
    pattern = str(tmp_path / "plate" / "plate.####.exr")
    staged = Path(staging(pattern))
    staged.parent.mkdir(parents=True)
    for frame in (1001, 1002):
        (staged.parent / f"plate.{frame}.exr").write_bytes(b"frame %d" % frame)
    publish(pattern, [1001, 1002])
    assert (tmp_path / "plate" / "plate.1002.exr").read_bytes() == b"frame 1002"
    assert list(staged.parent.iterdir()) == []
    with pytest.raises(OutputError, match="rendered no frame 1003"):
        publish(pattern, [1003])
    (tmp_path / "plate" / "plate.0990.exr").write_bytes(b"old")
    assert prune(pattern, range(1001, 1003)) == [990]
    assert sorted(p.name for p in (tmp_path / "plate").glob("*.exr")) == ["plate.1001.exr", "plate.1002.exr"]
