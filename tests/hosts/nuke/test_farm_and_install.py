"""The Nuke plugin outside the GUI: `nuke -t stylelock_render.py` on a saved script, and the install
command's NUKE_PATH folder imported by a bare Python."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import fake_session
import pytest
import stylelock_nuke.node as node_module
from conftest import FAKE, PLUGIN
from grpc_fixtures import serve

from stylelock.core.hosts.cache import CacheLayout
from stylelock.core.sample import write_sample_plate
from stylelock.server.cli import main as cli

FIRST, LAST = 1001, 1004


def _script(tmp_path: Path, address: str) -> tuple[Path, str]:
    """A saved script: a Read of the plate into a StyleLock node (passthrough) pointed at `address`."""
    plate = write_sample_plate(tmp_path / "plate", frames=list(range(FIRST, LAST + 1)), width=64, height=36)
    os.environ["STYLELOCK_SERVER"] = address
    try:
        node = node_module.create()
    finally:
        del os.environ["STYLELOCK_SERVER"]
    node.setInput(0, fake_session.read_node(plate, FIRST, LAST))
    fake_session.pump()
    node.knob("engine").setValues(["passthrough"])  # as a saved script holds it
    node.knob("engine").setValue("passthrough")
    path = tmp_path / "comp.nk"
    fake_session.save_script(str(path))
    return path, node.fullName()


def _nuke_t(script: Path, name: str, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    """`nuke -t stylelock_render.py SCRIPT NODE ...`, Nuke being the fake in terminal mode."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FAKE), str(PLUGIN)]), STYLELOCK_CACHE=str(cache))
    env["STYLELOCK_FAKE_NUKE_GUI"] = "0"
    command = [sys.executable, str(PLUGIN / "stylelock_render.py"), str(script), name, *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_the_farm_entry_point_renders_the_range_in_a_subprocess(tmp_path):
    with serve(allow_roots=[tmp_path]) as (_, address):
        script, name = _script(tmp_path, address)
        done = _nuke_t(script, name, tmp_path / "farm-cache", f"--frames={FIRST}-{LAST - 1}")
    assert done.returncode == 0, done.stderr
    assert f"{name}: finished: {LAST - FIRST} frames made" in done.stdout
    out = Path(CacheLayout(tmp_path / "farm-cache", name).output_pattern)
    made = sorted(p.name for p in out.parent.glob("*.exr"))
    assert made == [f"restyle.{f}.exr" for f in range(FIRST, LAST)]


def test_the_farm_entry_point_fails_in_one_line_without_a_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    script, name = _script(tmp_path, dead)
    done = _nuke_t(script, name, tmp_path / "farm-cache")
    assert done.returncode == 9  # server unavailable, as the CLI's exit codes say
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylelock: error: cannot reach the StyleLock server at")
    usage = _nuke_t(script, name, tmp_path / "farm-cache", "extra", "args")
    assert usage.returncode == 2 and "usage:" in usage.stderr


HEAVY = ("OpenImageIO", "PyOpenColorIO", "cv2", "torch", "numpy", "diffusers")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("nuke") / "stylelock"
    assert cli(["hosts", "nuke", "install", str(dest), "--nuke", "16", "--platform", "linux"]) == 0
    return dest


def test_the_install_folder_imports_the_adapter_alone_and_holds_nothing_heavy(installed):
    names = {p.name.split("-")[0].lower() for p in installed.iterdir()}
    assert {
        "init.py",
        "menu.py",
        "stylelock_render.py",
        "stylelock_nuke",
        "stylelock",
        "grpc",
        "google",
    } <= names
    assert not any(heavy.lower() in name for name in names for heavy in HEAVY)
    files = [str(p.relative_to(installed)) for p in installed.rglob("*")]
    assert not any(
        heavy.lower() in f.lower() for f in files for heavy in ("openimageio", "opencolorio", "cv2", "torch")
    )
    code = f"""
import importlib.util, json, sys
sys.path[:] = [p for p in sys.path if "site-packages" not in p and "dist-packages" not in p]
sys.path.insert(0, {str(installed)!r})
for name in ("fake_session", "nuke"):  # Nuke provides `nuke`; the fake stands in, loaded by file
    spec = importlib.util.spec_from_file_location(name, {str(FAKE)!r} + "/" + name + ".py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
import stylelock_nuke, stylelock_nuke.host, stylelock_nuke.node, stylelock_nuke.farm, grpc, google.protobuf
print(json.dumps({{
    "grpc": grpc.__file__, "protobuf": google.protobuf.__file__, "node": stylelock_nuke.node.__file__,
    "heavy": [m for m in {HEAVY!r} if m in sys.modules],
}}))
"""
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("grpc", "protobuf", "node"):
        assert report[key].startswith(str(installed)), report
    assert report["heavy"] == []
    assert "grpcio==" in (installed / "STYLELOCK_INSTALL.txt").read_text()


def test_install_refuses_a_folder_that_is_not_its_own(tmp_path, capsys):
    (tmp_path / "other.txt").write_text("someone's files")
    assert cli(["hosts", "nuke", "install", str(tmp_path), "--python", "3.11"]) == 5
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        cli(["hosts", "nuke", "install", str(tmp_path / "x"), "--python", "2.7"])
    assert refused.value.code == 2 and "invalid choice: '2.7'" in capsys.readouterr().err
