"""Blender as users run it: bpy 4.5 and 5.0 each in a venv of its own (`.ci/bpy_venvs.sh`), the
extension zip built by `stylelock hosts blender build` and installed into it, and a real server
started from this environment as a separate process.

Each Blender runs `scenario.py` once (a whole session: install, render, Restyle, Preview, Cancel,
...) and writes what it saw to `result.json`; the tests read that record and the files on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from blender_session import (
    HERE,
    SCENARIO_TIMEOUT,
    VENVS,
    Session,
    blender_datafiles,
    free_address,
    venv_python,
)


@pytest.fixture(scope="session")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("blender")


@pytest.fixture(scope="session")
def extension_zip(work_root: Path) -> Path:
    """The zip, built with the documented command."""
    out = work_root / "stylelock-blender.zip"
    command = [sys.executable, "-m", "stylelock.server.cli", "hosts", "blender", "build", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def style_image(work_root: Path) -> Path:
    """A painted-looking look image (PNG) for the keyframe engine."""
    import cv2

    from stylelock.core.paint import paint_keyframe

    rng = np.random.default_rng(3)
    base = cv2.resize(
        rng.uniform(0, 1, (12, 20, 3)).astype(np.float32), (160, 90), interpolation=cv2.INTER_CUBIC
    )
    painted = paint_keyframe(np.clip(base, 0.0, 1.0))
    path = work_root / "look.png"
    cv2.imwrite(str(path), (np.clip(painted, 0, 1)[..., ::-1] * 255).round().astype(np.uint8))
    return path


@pytest.fixture(scope="session")
def server(work_root: Path) -> Iterator[str]:
    """`stylelock serve` from this environment, in its own process; its first line names the address.

    Its allowed roots: the work folder (the scenes' caches live there: shared-path transport) and
    each Blender's colour-management folder (jobs in AgX/Filmic spaces name Blender's own config)."""
    roots = [str(work_root)] + [str(blender_datafiles(v)) for v in VENVS]
    command = [sys.executable, "-m", "stylelock.server.cli", "serve", "--listen", "127.0.0.1:0"]
    for root in roots:
        command += ["--allow-root", root]
    log = work_root / "server.log"
    with open(log, "w") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    deadline = time.monotonic() + 60
    while "listening on" not in (first := log.read_text().partition("\n")[0]):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    address = first.split("listening on", 1)[1].split()[0]
    try:
        yield address
    finally:
        process.terminate()
        process.wait(30)


LOCAL_TOKEN = "artist-token-0123456789"


@pytest.fixture(scope="module", params=sorted(VENVS))
def blender(
    request: pytest.FixtureRequest, work_root: Path, extension_zip: Path, style_image: Path, server: str
):
    version = request.param
    work = work_root / f"bpy{version}"
    work.mkdir()
    local = free_address()
    tokens = work / "tokens"  # the local server asks for a token: the preference must carry it
    tokens.write_text(f"artist {LOCAL_TOKEN}\n")
    tokens.chmod(0o600)
    config = {
        "work": str(work),
        "zip": str(extension_zip),
        "style": str(style_image),
        "address": server,
        "dead_address": free_address(),
        "local_address": local,
        "local_command": f"{sys.executable} -m stylelock.server.cli serve --listen {{address}} "
        f"--allow-root {{blender_ocio}} --tokens-file {tokens}",
        "token": LOCAL_TOKEN,
    }
    (work / "config.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "BLENDER_USER_RESOURCES": str(work / "user"),
        "STYLELOCK_CACHE": str(work / "cache"),
    }
    env.pop("OCIO", None)
    done = subprocess.run(
        [str(venv_python(version)), str(HERE / "scenario.py"), str(work / "config.json")],
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT,
        env=env,
        cwd=HERE,
        check=False,
    )
    (work / "blender.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    result = json.loads((work / "result.json").read_text())
    return Session(version, work, Path(result["cache_folder"]), result, server)
