"""Issue 5 through issue 3: a server started with `--model NAME=PATH` restyles with the named model."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models as tm
from grpc_fixtures import serve

from stylelock.core.client import StyleLockClient, run_remote
from stylelock.core.errors import SpecError
from stylelock.core.exr import read_exr
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.core.sample import write_sample_plate
from stylelock.server.config import ServerConfig
from stylelock.server.models import model_library


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    tm.build_sd(root / "sd")
    tm.build_controlnet(root / "cn-depth", root / "sd")
    plate = write_sample_plate(root / "plate", frames=range(1, 4), width=48, height=32)
    return root, plate


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from tm.one_torch_thread()


def test_named_models_are_listed_and_used(setup, tmp_path):
    root, plate = setup
    settings = dict(models=(f"sd15={root / 'sd'}",), controlnets=(f"depth={root / 'cn-depth'}",))
    with serve(**settings) as (_, address):
        with StyleLockClient(address) as client:
            models = client.info()["models"]
        assert models == {
            "models": {"sd15": str(root / "sd")},
            "controlnets": {"depth": str(root / "cn-depth")},
        }
        spec = JobSpec(
            plate=plate,
            frames="1-3",
            engine="diffusion-image",
            params={"model": "sd15", "prompt": "ink", "steps": 2, "strength": 0.6, "seed": 3},
            guides={"depth": "depth.Z"},
            output=OutputSettings(pattern=str(tmp_path / "out" / "o.#.exr")),
        )
        assert run_remote(address, spec, inline=True) == [1, 2, 3]
    source = read_exr(plate.replace("####", "0002")).main
    styled = read_exr(tmp_path / "out" / "o.2.exr").main
    assert np.abs(styled.rgb() - source.rgb()).mean() > 0.01
    np.testing.assert_array_equal(styled.pixels["depth.Z"], source.pixels["depth.Z"])


def test_a_model_path_that_does_not_exist_stops_the_server_from_starting(tmp_path):
    config = ServerConfig(models=(f"sd15={tmp_path / 'nowhere'}",))
    with pytest.raises(SpecError, match="does not exist"):
        model_library(config)


def test_server_info_still_answers_after_a_model_folder_goes_away(tmp_path):
    """The library is checked once, at start-up; a model moved later fails the job that uses it,
    not the server's description of itself (GetServerInfo used to re-check every path)."""
    tm.build_sd(tmp_path / "sd")
    with serve(models=(f"sd15={tmp_path / 'sd'}",)) as (server, address):
        (tmp_path / "sd").rename(tmp_path / "moved")
        with StyleLockClient(address) as client:
            assert client.info()["models"] == {"models": {"sd15": str(tmp_path / "sd")}}
        assert server.models == {"models": {"sd15": str(tmp_path / "sd")}}
