"""The thin client imports without the heavy libraries a host plugin may not have."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "OpenImageIO", "PyOpenColorIO", "cv2", "numpy", "diffusers")


def test_importing_the_client_pulls_in_no_heavy_library() -> None:
    code = (
        "import sys, json, time\n"
        "started = time.perf_counter()\n"
        "import stylelock.core.client\n"
        "seconds = time.perf_counter() - started\n"
        f"print(json.dumps({{'heavy': [m for m in {HEAVY!r} if m in sys.modules], 'seconds': seconds}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    report = json.loads(result.stdout)
    assert report["heavy"] == []
    assert report["seconds"] < 5.0  # about 0.2 s here; generous for a loaded CI machine
