"""The Nuke plugin's tests: the fake `nuke` and the plugin folder on the path, a fresh script per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FAKE = Path(__file__).parent / "fake"
PLUGIN = Path(__file__).resolve().parents[3] / "host_plugins" / "nuke"

for folder in (FAKE, PLUGIN):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture(autouse=True)
def fresh_script(monkeypatch, tmp_path):
    """An empty script, the cache under this test's folder, no runner or engine list left over."""
    import fake_session
    import stylelock_nuke.node as node

    fake_session.reset()
    monkeypatch.setenv("STYLELOCK_CACHE", str(tmp_path / "cache"))
    node.RUNNERS.clear()
    node.SHOWN.clear()
    node._INFO.clear()
    yield
    for runner in list(node.RUNNERS.values()):
        runner.cancel()
        runner.finished.wait(30)
