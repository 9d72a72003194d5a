"""The StyleLock node driven as a compositor would: real server on loopback, real EXRs, the fake Nuke."""

from __future__ import annotations

import socket
from pathlib import Path

import fake_session
import nuke
import numpy as np
import pytest
import stylelock_nuke.node as node_module
from grpc_fixtures import SlowEngine, partial_files, register_engine, serve
from stylelock_nuke import host

from stylelock.core.exr import read_exr, write_exr
from stylelock.core.hosts.cache import CacheLayout, cache_root
from stylelock.core.sample import write_sample_plate
from stylelock.server.cli import main as cli
from stylelock.server.cli.demo import paint_over

FIRST, LAST = 1001, 1006


@pytest.fixture
def shot(tmp_path: Path) -> dict:
    plate = write_sample_plate(tmp_path / "plate", frames=list(range(FIRST, LAST + 1)), width=96, height=54)
    paint = paint_over(plate, FIRST, tmp_path / "paint" / f"paint.{FIRST}.exr")
    return {"plate": plate, "paint": str(paint)}


def make_node(address: str, plate: str, monkeypatch) -> object:
    """Nodes > StyleLock after a Read of the plate, pointed at `address`, engines loaded."""
    monkeypatch.setenv("STYLELOCK_SERVER", address)
    read = fake_session.read_node(plate, FIRST, LAST)
    node = node_module.create()
    node.setInput(0, read)
    fake_session.pump(until=lambda: "engines on" in node.knob("status").value(), timeout=30)
    return node


def wait_done(node: object, timeout: float = 120) -> object:
    name = node.fullName()
    fake_session.pump(until=lambda: node_module.RUNNERS[name].finished.is_set(), timeout=timeout)
    fake_session.pump()  # the runner's last main-thread calls
    return node_module.RUNNERS[name]


def frame_bytes(pattern: str, frame: int) -> bytes:
    return Path(pattern.replace("####", str(frame))).read_bytes()


def test_restyle_lands_every_frame_matches_the_cli_and_redoes_only_what_changed(shot, tmp_path, monkeypatch):
    with serve(allow_roots=[tmp_path]) as (server, address):
        node = make_node(address, shot["plate"], monkeypatch)
        assert node.knob("engine").values()[:2] == ["keyframe", "diffusion-image"]
        assert "slp_softness" in node.knobs() and "slp_device" not in node.knobs()
        assert node.knob("layer").values()[0] == "rgba" and "depth" in node.knob("layer").values()
        fake_session.user_sets(node, "styles", f"{FIRST}={shot['paint']}")
        fake_session.press(node, "restyle")
        runner = wait_done(node)
        progress = runner.job.poll()
        assert progress.state == "finished", progress.message

        task = fake_session.STATE.tasks[-1]
        for frame in range(FIRST, LAST + 1):  # a progress message for every frame
            assert any(message.startswith(f"frame {frame} done") for message in task.messages)
        assert task.progress[-1] == 100 or progress.fraction == 1.0

        layout = CacheLayout(cache_root(None), node.fullName())
        result = host._inner(node, host.RESULT_READ)
        assert result.knob("file").getText() == layout.output_pattern
        assert (result.knob("first").value(), result.knob("last").value()) == (FIRST, LAST)
        assert result.knob("raw").value() and result.knob("reload").presses >= 1

        direct = str(tmp_path / "direct" / "d.####.exr")
        style = f"{FIRST}={shot['paint']}"
        assert (
            cli(["restyle", shot["plate"], "--frames", f"{FIRST}-{LAST}", "--style", style, "--out", direct])
            == 0
        )
        for frame in range(FIRST, LAST + 1):  # byte for byte what the CLI writes for the same settings
            assert frame_bytes(layout.output_pattern, frame) == frame_bytes(direct, frame)

        fake_session.press(node, "restyle")  # nothing changed: no frame is made again
        again = wait_done(node).job.poll()
        assert again.state == "finished" and again.computed == () and len(again.done) == LAST - FIRST + 1
        assert "0 frames made" in node.knob("status").value()
        job = server.manager.get(again.job_id)
        assert not [e for e in job.events if e.kind == "frame_started"]

        changed = Path(shot["plate"].replace("####", "1004"))
        image = read_exr(changed)
        image.main.pixels["G"] = (image.main.pixels["G"].astype(np.float32) * 0.5).astype(np.float16)
        write_exr(changed, image)  # one upstream frame changes under the same name
        fake_session.press(node, "restyle")
        redo = wait_done(node).job.poll()
        # one keyframe at 1001: frame 1004 and the frames carried on from it depend on it
        assert sorted(redo.computed) == [1004, 1005, 1006]


def test_cancel_stops_the_server_job_and_leaves_whole_frames(shot, tmp_path, monkeypatch):
    register_engine(monkeypatch, SlowEngine)
    with serve(allow_roots=[tmp_path]) as (server, address):
        node = make_node(address, shot["plate"], monkeypatch)
        fake_session.user_sets(node, "engine", SlowEngine.name)
        fake_session.press(node, "restyle")
        name = node.fullName()
        fake_session.pump(until=lambda: node_module.RUNNERS[name].job is not None, timeout=30)
        fake_session.pump(until=lambda: node_module.RUNNERS[name].job.poll().state == "running", timeout=30)
        fake_session.press(node, "cancel")
        runner = wait_done(node)
        progress = runner.job.poll()
        assert progress.state == "cancelled"
        assert server.manager.get(progress.job_id).state == "cancelled"
        assert "cancelled" in node.knob("status").value()
        layout = CacheLayout(cache_root(None), name)
        assert partial_files(Path(layout.output_pattern).parent) == []
        assert len(list(Path(layout.output_pattern).parent.glob("*.exr"))) < LAST - FIRST + 1


def test_the_progress_bar_cancel_cancels_the_server_job(shot, tmp_path, monkeypatch):
    register_engine(monkeypatch, SlowEngine)
    with serve(allow_roots=[tmp_path]) as (server, address):
        node = make_node(address, shot["plate"], monkeypatch)
        fake_session.user_sets(node, "engine", SlowEngine.name)
        fake_session.press(node, "restyle")
        fake_session.pump(until=lambda: bool(fake_session.STATE.tasks), timeout=30)
        fake_session.STATE.user_cancels = True  # the user presses cancel on Nuke's progress bar
        progress = wait_done(node).job.poll()
        assert progress.state == "cancelled"
        assert server.manager.get(progress.job_id).state == "cancelled"


def _dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_server_down_is_one_clear_line_on_the_node_and_in_the_script_editor(shot, monkeypatch):
    monkeypatch.setenv("STYLELOCK_SERVER", _dead_address())
    node = node_module.create()
    node.setInput(0, fake_session.read_node(shot["plate"], FIRST, LAST))
    fake_session.pump(until=lambda: "cannot reach" in node.knob("status").value(), timeout=30)
    fake_session.press(node, "restyle")
    assert node.knob("status").value().startswith("asking")  # the UI is not blocked meanwhile
    fake_session.pump(until=lambda: "cannot reach" in node.knob("status").value(), timeout=30)
    status = node.knob("status").value()
    assert status.startswith("cannot reach the StyleLock server at 127.0.0.1:") and "\n" not in status
    lines = [line for line in fake_session.STATE.log if "cannot reach" in line]
    assert lines and all("Traceback" not in line and "\n" not in line for line in lines)


@pytest.mark.parametrize("scripts_call_knob_changed", [True, False], ids=["nuke17", "nuke15-16"])
def test_switching_engine_rebuilds_the_parameter_knobs_and_keeps_values(
    shot, tmp_path, monkeypatch, scripts_call_knob_changed
):
    fake_session.STATE.script_changes_call_knob_changed = scripts_call_knob_changed
    with serve(allow_roots=[tmp_path]) as (_, address):
        node = make_node(address, shot["plate"], monkeypatch)
        fake_session.user_sets(node, "slp_softness", 0.3)
        fake_session.user_sets(node, "slp_mode", "styleblit")
        fake_session.user_sets(node, "engine", "diffusion-image")
        assert "slp_softness" not in node.knobs() and "slp_strength" in node.knobs()
        fake_session.user_sets(node, "slp_prompt", "oil paint [brushy] $HOME")  # TCL-looking text stays text
        fake_session.user_sets(node, "engine", "keyframe")
        assert node.knob("slp_softness").value() == pytest.approx(0.3)
        assert node.knob("slp_mode").value() == "styleblit"
        assert node_module.param_values(node)["softness"] == pytest.approx(0.3)
        fake_session.user_sets(node, "engine", "diffusion-image")
        assert node.knob("slp_prompt").getText() == "oil paint [brushy] $HOME"


def test_preview_restyles_the_frames_around_the_current_one_small_and_fast(shot, tmp_path, monkeypatch):
    with serve(allow_roots=[tmp_path]) as (_, address):
        node = make_node(address, shot["plate"], monkeypatch)
        fake_session.user_sets(node, "styles", f"{FIRST}={shot['paint']}")
        fake_session.STATE.frame = 1004
        fake_session.press(node, "preview")
        progress = wait_done(node).job.poll()
        assert progress.state == "finished", progress.message
        layout = CacheLayout(cache_root(None), node.fullName())
        made = sorted(int(p.name.split(".")[1]) for p in Path(layout.preview_pattern).parent.glob("*.exr"))
        assert made == [1002, 1003, 1004, 1005, 1006]
        header = read_exr(layout.preview_pattern.replace("####", "1004")).main.attributes
        assert header["stylelock:proxy"] == "0.5" and '"mode": "styleblit"' in header["stylelock:params"]
        assert node.knob("show").value() == "preview"
        assert host._inner(node, host.RESULT_READ).knob("file").getText() == layout.preview_pattern
        fake_session.user_sets(node, "show", "restyle")
        assert host._inner(node, host.RESULT_READ).knob("file").getText() == layout.output_pattern


def test_only_the_declared_nuke_calls_exist():
    with pytest.raises(AttributeError, match="the fake nuke has no 'allNodes'"):
        nuke.allNodes()
    with pytest.raises(AttributeError):
        nuke.nodes.Blur()
    import nukescripts

    with pytest.raises(AttributeError):
        nukescripts.clear_selection_recursive()


def test_menu_and_panel_registration_in_the_gui():
    import stylelock_nuke
    from nukescripts import panels

    stylelock_nuke.register_gui()
    assert "Nodes/StyleLock/StyleLock" in fake_session.STATE.menu
    expression, title = panels.REGISTERED[stylelock_nuke.PANEL_ID]
    assert title == "StyleLock Jobs" and "stylelock_nuke.panel" in expression


def test_parameter_values_are_saved_with_the_script(shot, tmp_path, monkeypatch):
    with serve(allow_roots=[tmp_path]) as (_, address):
        node = make_node(address, shot["plate"], monkeypatch)
        fake_session.user_sets(node, "slp_softness", 0.25)
        fake_session.user_sets(node, "engine", "passthrough")
        name = node.fullName()
        fake_session.save_script(str(tmp_path / "comp.nk"))
        nuke.scriptOpen(str(tmp_path / "comp.nk"))
        reopened = nuke.toNode(name)
        assert reopened is not node and reopened.knob("engine").value() == "passthrough"
        fake_session.user_sets(reopened, "engine", "keyframe")  # the engine list is known from the server
        assert reopened.knob("slp_softness").value() == pytest.approx(0.25)


def test_two_nodes_have_their_own_names_caches_and_jobs(shot, tmp_path, monkeypatch):
    with serve(allow_roots=[tmp_path]) as (_, address):
        first = make_node(address, shot["plate"], monkeypatch)
        second = make_node(address, shot["plate"], monkeypatch)
        assert (first.name(), second.name()) == ("StyleLock1", "StyleLock2")
        for node in (first, second):
            fake_session.user_sets(node, "engine", "passthrough")
            fake_session.press(node, "restyle")
        for node in (first, second):
            assert wait_done(node).job.poll().state == "finished"
        outputs = {host._inner(n, host.RESULT_READ).knob("file").getText() for n in (first, second)}
        assert len(outputs) == 2


def test_a_scripted_parameter_survives_a_refresh_in_nuke_15_and_16(shot, tmp_path, monkeypatch):
    fake_session.STATE.script_changes_call_knob_changed = False  # scripts' changes call nothing
    with serve(allow_roots=[tmp_path]) as (_, address):
        node = make_node(address, shot["plate"], monkeypatch)
        node.knob("slp_softness").setValue(0.33)  # a TD's script, not the properties panel
        node_module.refresh(node)
        fake_session.pump(until=lambda: "engines on" in node.knob("status").value(), timeout=30)
        assert node.knob("slp_softness").value() == pytest.approx(0.33)
        assert node_module.param_values(node)["softness"] == pytest.approx(0.33)


def test_the_scripts_colour_settings_come_from_root(shot, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOW_OCIO", str(tmp_path / "show.ocio"))
    root = nuke.root()
    root.knob("colorManagement").setValue("OCIO")
    root.knob("workingSpaceLUT").setValue("linear")
    root.knob("OCIO_config").setValue("custom")
    root.knob("customOCIOConfigPath").setValue("[getenv SHOW_OCIO]")
    assert host.working_space() == "linear"
    assert host.script_ocio_config() == str(tmp_path / "show.ocio")  # TCL evaluated
    root.knob("colorManagement").setValue("Nuke")
    assert host.script_ocio_config() == ""  # Nuke's own colour management names no OCIO file


def test_the_token_comes_from_the_environment(shot, tmp_path, monkeypatch):
    tokens = tmp_path / "tokens"
    tokens.write_text("artist artist-token-0123456789\n")
    tokens.chmod(0o600)
    with serve(tokens_file=str(tokens)) as (_, address):
        monkeypatch.delenv("STYLELOCK_TOKEN", raising=False)
        monkeypatch.setenv("STYLELOCK_SERVER", address)
        refused = node_module.create()
        refused.setInput(0, fake_session.read_node(shot["plate"], FIRST, LAST))
        fake_session.pump(until=lambda: "refused" in refused.knob("status").value(), timeout=30)
        status = refused.knob("status").value()
        assert "access token" in status and "\n" not in status
        monkeypatch.setenv("STYLELOCK_TOKEN", "artist-token-0123456789")
        node = make_node(address, shot["plate"], monkeypatch)  # the engines load: the call got in
        assert node.knob("engine").values()[0] == "keyframe"
