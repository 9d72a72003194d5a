"""`stylelock info`, `sample` and `restyle --print-spec`: what hosts and TDs script against."""

from __future__ import annotations

import json

from stylelock.core.exr import read_exr
from stylelock.core.jobspec import JobSpec
from stylelock.server.cli import main


def test_info_json_is_the_schema_hosts_build_ui_from(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    engines = {engine["name"]: engine for engine in info["engines"]}
    assert {"keyframe", "passthrough"} <= set(engines)
    for engine in engines.values():
        for param in engine["params"]:
            assert {"name", "type", "default", "help", "minimum", "maximum", "choices"} <= set(param)
            assert param["type"] in {"float", "int", "bool", "string", "enum", "path"}
    assert info["device"]["kind"] in {"cpu", "cuda"}
    assert info["colour"]["source"] == "bundled" and info["colour"]["config"].endswith(".ocio")
    assert info["versions"]["openimageio"].startswith("3.")


def test_info_text_lists_parameters_with_ranges(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "passthrough:" in text and "colour config:" in text and "device:" in text


def test_sample_writes_the_requested_frames(tmp_path, capsys):
    assert main(["sample", str(tmp_path), "--frames", "1-3", "--size", "64x36"]) == 0
    files = sorted(p.name for p in tmp_path.glob("*.exr"))
    assert files == ["plate.0001.exr", "plate.0002.exr", "plate.0003.exr"]
    part = read_exr(tmp_path / "plate.0002.exr").main
    assert (part.display_window.width, part.display_window.height) == (64, 36)
    assert main(["sample", str(tmp_path), "--size", "huge"]) == 2


def test_print_spec_round_trips_through_a_spec_file(tmp_path, capsys):
    args = [
        "restyle",
        "plate.%04d.exr",
        "--frames",
        "1001-1010x2",
        "--engine",
        "keyframe",
        "--style",
        "1001=paint.exr",
        "--style",
        "look.png",
        "--param",
        "seed=3",
        "--guide",
        "depth=depth.Z",
        "--guide",
        "edges",
        "--proxy",
        "0.5",
        "--colorspace",
        "ACEScg",
        "--out",
        "out/s.####.exr",
        "--no-resume",
        "--print-spec",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    spec = JobSpec.from_json(printed)
    assert spec.frames == "1001-1010x2" and spec.proxy == 0.5 and not spec.output.resume
    assert [(s.path, s.frame) for s in spec.styles] == [("paint.exr", 1001), ("look.png", None)]
    assert dict(spec.guides) == {"depth": "depth.Z", "edges": ""}
    spec_file = tmp_path / "job.json"
    spec_file.write_text(printed)
    assert main(["restyle", "--spec", str(spec_file), "--frames", "1001-1002", "--print-spec"]) == 0
    again = JobSpec.from_json(capsys.readouterr().out)
    assert again == spec.with_changes(frames="1001-1002")


def test_keyframe_every_is_the_hybrid_parameter(capsys):
    base = ["restyle", "p.####.exr", "--frames", "1-9", "--engine", "diffusion-image", "--print-spec"]
    assert main([*base, "--keyframe-every", "4", "--param", "prompt=ink"]) == 0
    assert dict(JobSpec.from_json(capsys.readouterr().out).params) == {"keyframe_every": 4, "prompt": "ink"}
