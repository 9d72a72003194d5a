"""Structure guides from the plate and ControlNets (one or several) from local folders."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.errors import EngineError, SpecError
from stylelock.server.engines.base import ModelFrame
from stylelock.server.engines.diffusion import DiffusionImageEngine, ModelLibrary
from stylelock.server.engines.diffusion.guides import GuideMaker, canny_edges, plan_guides

OFF = {"shared_noise": False, "cross_frame_attention": False, "flow_fusion": False, "colour_lock": False}
BASE = {"model": "sd", "prompt": "pencil sketch", "steps": 4, "seed": 3, **OFF}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelLibrary:
    root = tmp_path_factory.mktemp("diffusion-control")
    tm.build_sd(root / "sd")
    tm.build_sdxl(root / "sdxl")
    tm.build_controlnet(root / "cn-depth", root / "sd", seed=2)
    tm.build_controlnet(root / "cn-edges", root / "sd", seed=5)
    tm.build_controlnet(root / "cn-xl-depth", root / "sdxl", seed=6)
    return ModelLibrary(
        models={"sd": root / "sd", "sdxl": root / "sdxl"},
        controlnets={"depth": root / "cn-depth", "edges": root / "cn-edges", "xldepth": root / "cn-xl-depth"},
    )


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_unload_after():
    yield from tm.one_torch_thread()
    DiffusionImageEngine().close()


def run(models, frames, guides, **params):
    engine = DiffusionImageEngine(models=models)
    shot = tm.make_shot(engine, frames, {**BASE, **params}, guides=guides)
    return list(engine.restyle(shot, iter(frames)))


# -- guides -------------------------------------------------------------------------------------------
def test_canny_edges_are_white_lines_on_black():
    rgb = np.zeros((32, 32, 3), np.float32)
    rgb[:, 16:] = 1.0
    edges = canny_edges(rgb)
    assert edges.shape == (32, 32, 3)
    assert set(np.unique(edges)) == {0.0, 1.0}
    assert edges[:, 15:17].max() == 1.0 and edges[:, :12].max() == 0.0


def _depth_frame(number: int, depth: np.ndarray) -> ModelFrame:
    return ModelFrame(number=number, rgb=np.zeros((*depth.shape, 3), np.float32), aovs={"depth.Z": depth})


def test_depth_is_normalised_over_the_shot_not_per_frame():
    near_and_far = np.linspace(2.0, 20.0, 64, dtype=np.float32).reshape(8, 8)
    only_near = np.clip(near_and_far, 2.0, 4.0)  # the far objects have left frame 2
    frames = [_depth_frame(1, near_and_far), _depth_frame(2, only_near)]
    specs = plan_guides({"depth": "depth.Z"}, frames[0])
    maker = GuideMaker(
        specs, [1, 2], {f.number: f for f in frames}.__getitem__, (frames[0].height, frames[0].width)
    )
    first, second = (maker.control_images(f)["depth"] for f in frames)
    # A point at depth 2 has the same guide value in both frames, and near is bright.
    assert first[0, 0, 0] == pytest.approx(second[0, 0, 0])
    assert first[0, 0, 0] > first[-1, -1, 0]
    # Per frame, depth 4 would have become the far end (0) of frame 2; over the shot it stays mid-grey.
    assert second[-1, -1, 0] > 0.1


def test_normals_and_missing_channels():
    frame = tm.translating_plate(count=1)[0]
    specs = plan_guides({"normal": ""}, frame)
    image = GuideMaker(specs, [frame.number], lambda n: frame, (frame.height, frame.width)).control_images(
        frame
    )["normal"]
    np.testing.assert_allclose(image[0, 0], [0.65, 0.4, 0.95], atol=1e-6)
    with pytest.raises(EngineError, match=r"needs plate channel Zdepth.*backward\.u"):
        plan_guides({"depth": "Zdepth"}, frame)


# -- ControlNet ---------------------------------------------------------------------------------------
def test_a_controlnet_guide_steers_the_restyle(models):
    frames = tm.translating_plate(count=2)
    plain = run(models, frames, {})
    edges = run(models, frames, {"edges": ""})
    assert np.abs(plain[0] - edges[0]).mean() > 0.01
    muted = run(models, frames, {"edges": ""}, controlnet_weight=0.0)
    np.testing.assert_allclose(muted[0], plain[0], atol=1e-5)  # weight 0: the guide adds nothing


def test_several_controlnets_with_per_guide_weights_and_windows(models):
    frames = tm.translating_plate(count=2)
    guides = {"depth": "depth.Z", "edges": ""}
    both = run(models, frames, guides, batch=2)
    weighted = run(
        models, frames, guides, batch=2, controlnet_weights="edges=0.2", controlnet_ends="depth=0.5"
    )
    assert np.abs(both[1] - weighted[1]).mean() > 1e-3
    # Each frame of a batch gets its own control images: batching matches frame by frame.
    single = run(models, frames, guides, batch=1)
    np.testing.assert_allclose(both[1], single[1], atol=2e-3)
    depth_only = run(models, frames, guides, controlnet_weights="edges=0")
    np.testing.assert_allclose(depth_only[0], run(models, frames, {"depth": "depth.Z"})[0], atol=1e-5)


def test_controlnet_on_an_sdxl_style_model(models):
    frames = tm.translating_plate(count=1)
    plain = run(models, frames, {}, model="sdxl")
    guided = run(models, frames, {"xldepth": "depth.Z"}, model="sdxl")
    assert np.abs(plain[0] - guided[0]).mean() > 1e-3


def test_guide_errors_name_the_problem(models):
    frames = tm.translating_plate(count=1)
    with pytest.raises(EngineError, match=r"ControlNet 'normals' is neither a registered name"):
        run(models, frames, {"normals": "N"})
    with pytest.raises(SpecError, match=r"controlnet_weights entry 'depht=1' must be GUIDE=NUMBER"):
        run(models, frames, {"depth": "depth.Z"}, controlnet_weights="depht=1")
    with pytest.raises(SpecError, match="start must come first"):
        run(models, frames, {"depth": "depth.Z"}, controlnet_start=0.6, controlnet_end=0.4)


def test_user_supplied_control_image_sequences(models, tmp_path):
    import cv2

    frames = tm.translating_plate(count=2)
    for frame in frames:  # the artist's own depth pass, at twice the engine resolution, 16-bit
        ramp = np.linspace(0, 65535, 128, dtype=np.float64)[None, :].repeat(96, axis=0)
        cv2.imwrite(
            str(tmp_path / f"depth.{frame.number:04d}.png"),
            (ramp * (0.5 + frame.number % 2 / 2)).astype(np.uint16),
        )
    pattern = str(tmp_path / "depth.####.png")
    maker = GuideMaker(
        plan_guides({"depth": pattern}, frames[0]), [1001, 1002], lambda n: frames[n - 1001], (48, 64)
    )
    image = maker.control_images(frames[1])["depth"]
    assert image.shape == (48, 64, 3) and image.dtype == np.float32
    assert image[0, 0, 0] == pytest.approx(0.0, abs=0.01) and image[0, -1, 0] == pytest.approx(0.5, abs=0.02)
    guided = run(models, frames, {"depth": pattern})
    plain = run(models, frames, {})
    assert np.abs(guided[0] - plain[0]).mean() > 1e-3
    for frame in frames:  # the same depth, mirrored: the restyle must follow the image it is given
        image = cv2.imread(str(tmp_path / f"depth.{frame.number:04d}.png"), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(tmp_path / f"mirrored.{frame.number:04d}.png"), image[:, ::-1].copy())
    mirrored = run(models, frames, {"depth": str(tmp_path / "mirrored.####.png")})
    assert np.abs(mirrored[0] - guided[0]).mean() > 5e-5  # exactly 0 when the image is ignored
    with pytest.raises(EngineError, match=r"guide image '.*missing\.1001\.png' cannot be read"):
        run(models, frames, {"depth": str(tmp_path / "missing.####.png")})


def test_controlnets_by_path_for_one_job(models):
    frames = tm.translating_plate(count=1)
    bare = ModelLibrary(models=models.models)
    by_path = run(bare, frames, {"edges": ""}, controlnet_paths=f"edges={models.controlnets['edges']}")
    registered = run(models, frames, {"edges": ""})
    assert by_path[0].tobytes() == registered[0].tobytes()
    with pytest.raises(SpecError, match="controlnet_paths entry 'edges' must be GUIDE=PATH"):
        run(bare, frames, {"edges": ""}, controlnet_paths="edges")


def test_single_file_controlnets_load_offline_in_both_layouts(models, tmp_path):
    """A single file has no config and nothing can be fetched: the config comes from the job's
    model (a ControlNet copies its encoder), so lllyasviel-style files (original `control_model.`
    layout) and bare diffusers state dicts load as their folders do."""
    frames = tm.translating_plate(count=1)
    for model, guide, folder in (("sd", "depth", "depth"), ("sdxl", "xldepth", "xldepth")):
        expected = run(models, frames, {guide: "depth.Z"}, model=model)[0].tobytes()
        for layout in ("original", "diffusers") if model == "sd" else ("diffusers",):
            single = tm.build_controlnet_single_file(
                models.controlnets[folder], tmp_path / f"{guide}-{layout}.safetensors", layout
            )
            out = run(models, frames, {guide: "depth.Z"}, model=model, controlnet_paths=f"{guide}={single}")
            assert out[0].tobytes() == expected, f"{model} {layout}"
    single_sd = tmp_path / "depth-original.safetensors"
    # The SD file, now for the SDXL model: its config is derived anew (not the resident SD net) and
    # the weights do not fit, which is said before sampling.
    with pytest.raises(
        EngineError, match=r"depth-original\.safetensors' does not load with the architecture"
    ):
        run(models, frames, {"depth": "depth.Z"}, model="sdxl", controlnet_paths=f"depth={single_sd}")


def test_a_single_file_controlnet_of_another_shape_needs_its_config_beside_it(models, tmp_path):
    import shutil

    frames = tm.translating_plate(count=1)
    narrow = tm.build_controlnet(tmp_path / "narrow", models.models["sd"], seed=4, embedding=(8, 16, 24, 32))
    single = tm.build_controlnet_single_file(narrow, tmp_path / "narrow-file.safetensors", "diffusers")
    params = {"controlnet_paths": f"depth={single}"}
    with pytest.raises(EngineError, match=r"narrow-file\.safetensors' does not load with the architecture"):
        run(models, frames, {"depth": "depth.Z"}, **params)
    (tmp_path / "narrow-file.config").mkdir()
    shutil.copy(narrow / "config.json", tmp_path / "narrow-file.config" / "config.json")
    expected = run(models, frames, {"depth": "depth.Z"}, controlnet_paths=f"depth={narrow}")
    assert run(models, frames, {"depth": "depth.Z"}, **params)[0].tobytes() == expected[0].tobytes()
