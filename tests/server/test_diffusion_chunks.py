"""Farm chunks of `diffusion-image` with its temporal layers on match the unchunked run bit for bit.

The chain of cross-frame attention, flow fusion and the colour lock restarts on a segment grid fixed
in absolute frame numbers; a chunk that starts mid-segment re-runs the segment's earlier frames.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tiny_models as tm

from stylelock.core.errors import FramesMissingError
from stylelock.core.exr import read_exr, write_exr
from stylelock.core.jobspec import JobSpec, OutputSettings
from stylelock.core.sample import write_sample_plate
from stylelock.core.sequence import FramePattern
from stylelock.server import pipeline
from stylelock.server.engine_cache import EngineCache
from stylelock.server.engines.base import ModelFrame, ShotContext
from stylelock.server.engines.diffusion import DiffusionImageEngine, ModelLibrary
from stylelock.server.engines.diffusion.guides import GuideMaker, plan_guides
from stylelock.server.engines.diffusion.segments import Grid, Reads, chain_batches, chain_grid
from stylelock.server.pipeline import run_job

# Temporal layers on (the defaults), no style reference: the colour lock aims at the chain's anchor.
PARAMS = {"model": "sd", "prompt": "oil painting", "steps": 4, "seed": 3, "batch": 2, "segment": 4}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion-chunks")
    tm.build_sd(root / "sd")
    tm.build_controlnet(root / "cn-depth", root / "sd")
    plate = write_sample_plate(root / "plate", frames=range(1001, 1009), width=64, height=40)
    return ModelLibrary(models={"sd": root / "sd"}, controlnets={"depth": root / "cn-depth"}), plate


@pytest.fixture(autouse=True, scope="module")
def _one_thread_and_unload_after():
    yield from tm.one_torch_thread()
    DiffusionImageEngine().close()


@pytest.fixture(scope="module")
def dolly(setup, tmp_path_factory) -> str:
    """The sample plate with the camera pulling back: every depth grows from frame to frame, so a
    depth range measured over some of the frames differs from one measured over all of them."""
    _, plate = setup
    source, folder = FramePattern.parse(plate), tmp_path_factory.mktemp("dolly")
    dolly = FramePattern.parse(str(folder / "plate.####.exr"))
    for number in source.existing_frames():
        image = read_exr(source.path(number))
        depth = image.main.pixels["depth.Z"]
        image.main.pixels["depth.Z"] = (depth * (1.0 + 0.25 * (number - 1001))).astype(depth.dtype)
        write_exr(dolly.path(number), image)
    return dolly.pattern


def restyle(setup, out_dir, frames: str, guides=None, plate=None, **params) -> dict[int, bytes]:
    """Run a job through the real pipeline; frame -> RGB bytes of the EXR it wrote."""
    library, sample = setup
    plate = plate or sample
    engines = EngineCache(device="auto", engine_options={"diffusion-image": {"models": library}})
    spec = JobSpec(
        plate=plate,
        frames=frames,
        engine="diffusion-image",
        params={**PARAMS, **params},
        guides=guides or {},
        output=OutputSettings(pattern=str(out_dir / "out.####.exr")),
    )
    try:
        summary = run_job(spec, engines=engines)
    finally:
        engines.close()
    assert not summary.warnings
    return {frame: read_exr(path).main.rgb().tobytes() for frame, path in summary.outputs.items()}


def chunk_of(shot, numbers) -> tuple[object, list[int]]:
    """`shot` narrowed to the job frames `numbers`, and the list of plate frames it reads from disk."""
    reads: list[int] = []

    def load(number: int) -> ModelFrame:
        frame = shot.load_frame(number)  # (raises for a frame the plate lacks: not counted)
        reads.append(number)
        return frame

    return replace(shot, frames=tuple(numbers), plate_frames=shot.plate_or_job_frames, load_frame=load), reads


def test_chunks_match_the_unchunked_run_with_temporal_layers_on(setup, tmp_path):
    whole = restyle(setup, tmp_path / "whole", "1001-1008")
    assert len(whole) == 8 and len(set(whole.values())) == 8
    again = restyle(setup, tmp_path / "again", "1001-1008")
    assert again == whole  # two runs, identical bytes
    chunks = {
        "1005-1008": "aligned on a segment",
        "1006-1008": "starts mid-segment: re-runs 1005",
        "1003": "starts mid-segment and ends mid-batch: re-runs 1001-1002 and fills its batch with 1004",
    }
    for frames, why in chunks.items():
        chunk = restyle(setup, tmp_path / frames, frames)
        for frame, data in chunk.items():
            assert data == whole[frame], f"frame {frame} of chunk {frames} ({why}) differs"


def test_a_chunk_with_a_depth_guide_matches_the_unchunked_run(setup, dolly, tmp_path, monkeypatch):
    # The depth guide's range (1st-99th percentile) is measured on frames spread over the whole
    # plate on disk, not over the chunk's frames, so the chunk's control images are the same.
    guides = {"depth": "depth.Z"}
    whole = restyle(setup, tmp_path / "whole", "1001-1008", guides, dolly)
    for frames in ("1005-1008", "1002"):
        chunk = restyle(setup, tmp_path / frames, frames, guides, dolly)
        for frame, data in chunk.items():
            assert data == whole[frame], f"frame {frame} of chunk {frames} differs"
    # The control: told only its own frames, the chunk measures a narrower range and differs.
    monkeypatch.setattr(pipeline._JobRun, "_plate_frames", lambda self: ())
    assert restyle(setup, tmp_path / "blind", "1005-1008", guides, dolly)[1006] != whole[1006]


def test_a_control_sequence_range_uses_the_plate_frames_it_has_on_disk(tmp_path):
    import OpenImageIO as oiio

    frames = tm.translating_plate(count=8, height=8, width=8)
    by_number = {f.number: f for f in frames}
    for number in range(1003, 1007):  # the artist's float depth covers part of the plate only
        values = np.full((8, 8, 3), float(number - 1000), np.float32)
        values[0, 0] = 0.0
        assert oiio.ImageBuf(values).write(str(tmp_path / f"z.{number}.exr"))
    specs = plan_guides({"depth": str(tmp_path / "z.####.exr")}, frames[0])
    loads: list[int] = []

    def load(number: int) -> ModelFrame:
        loads.append(number)
        return by_number[number]

    maker = GuideMaker(specs, [f.number for f in frames], load, (8, 8))
    assert loads == []  # the range is the sequence's own: no plate frame is decoded for it
    image = maker.control_images(by_number[1006])["depth"]
    assert maker.ranges["depth"].low == 0.0 and maker.ranges["depth"].high == 6.0
    assert image[1, 1, 0] == 1.0 and image[0, 0, 0] == 0.0


def test_without_segments_a_mid_shot_chunk_differs(setup, tmp_path):
    # The control: with one chain per job (segment=0) the chunk's first frame becomes the anchor.
    whole = restyle(setup, tmp_path / "whole", "1005-1008", segment=0)
    assert restyle(setup, tmp_path / "chunk", "1006-1008", segment=0)[1006] != whole[1006]


def test_warm_up_reads_only_the_segment_before_the_chunk(setup):
    library, _ = setup
    frames = tm.translating_plate(count=8, height=40, width=64)
    engine = DiffusionImageEngine(models=library)
    shot = tm.make_shot(engine, frames, PARAMS)
    whole = list(engine.restyle(shot, iter(frames)))
    for chunk, expected_reads in ((frames[4:6], []), (frames[5:7], [1005, 1008])):
        job, reads = chunk_of(shot, [f.number for f in chunk])
        out = list(engine.restyle(job, iter(chunk)))
        assert reads == expected_reads
        for frame, image in zip(chunk, out, strict=True):
            assert image.tobytes() == whole[frame.number - 1001].tobytes()


def _frames(*numbers: int) -> list[ModelFrame]:
    return [ModelFrame(number=n, rgb=np.zeros((2, 2, 3), np.float32)) for n in numbers]


GRID = Grid(4, 1001)


def plan(wanted, plate, grid=GRID, size=2):
    on_disk = {f.number: f for f in _frames(*plate)}
    batches = chain_batches(iter(_frames(*wanted)), grid, lambda: size, on_disk.get)
    return [(fresh, [(f.number, w) for f, w in batch]) for fresh, batch in batches]


def test_batches_are_cut_from_segment_starts_in_absolute_frame_numbers():
    plate = range(1001, 1013)
    assert plan([1001, 1002, 1003, 1004, 1005], plate) == [
        (True, [(1001, True), (1002, True)]),
        (False, [(1003, True), (1004, True)]),
        (True, [(1005, True), (1006, False)]),
    ]
    assert plan([1007, 1010], plate) == [
        (True, [(1005, False), (1006, False)]),
        (False, [(1007, True), (1008, False)]),
        (True, [(1009, False), (1010, True)]),
    ]
    # A shot that starts after its segment's first frame chains from its own first frame,
    # and a frame the plate lacks is left out of the chain.
    assert plan([1004], [1003, 1004, 1006, 1007]) == [(True, [(1003, False), (1004, True)])]
    assert plan([1007], [1005, 1007, 1008]) == [(True, [(1005, False), (1007, True)])]
    # Frames out of order restart their segment's chain.
    assert plan([1006, 1005], plate) == [
        (True, [(1005, False), (1006, True)]),
        (True, [(1005, True), (1006, False)]),
    ]
    assert Grid(4, 1001).start(999) == 997 and Grid(4, 1001).end(1001) == 1005


def test_warm_up_reads_skip_frames_the_plate_lacks_and_let_load_errors_through():
    asked: list[int] = []

    def load(number: int) -> ModelFrame:
        asked.append(number)
        if number == 1003:
            raise KeyError("a channel missing inside decoding")  # a bug, not a missing frame
        if number > 1004:
            raise FramesMissingError(f"EXR file not found: plate.{number}.exr")
        return _frames(number)[0]

    on_disk = ShotContext("j", (1002,), (), {}, load, plate_frames=(1001, 1002, 1003, 1004))
    reads = Reads(on_disk)
    assert reads(1001).number == 1001 and reads(1000) is None and reads(1005) is None
    assert asked == [1001]  # frames not on disk are never opened
    with pytest.raises(KeyError):
        reads(1003)  # a frame on disk that fails to load fails the job, it is not skipped
    assert reads.frames == 1
    by_hand = Reads(replace(on_disk, plate_frames=()))  # the plate is unknown: try, and learn
    assert by_hand(1005) is None and by_hand(1004).number == 1004 and by_hand.frames == 1
    with pytest.raises(KeyError):
        by_hand(1003)


def test_frames_that_do_not_depend_on_each_other_chain_over_one_batch():
    on = {"segment": 24, "segment_origin": 1001, "batch": 3, "cross_frame_attention": True}
    on |= {"flow_fusion": False, "colour_lock": True, "colour_lock_strength": 1.0}
    assert chain_grid(on, has_reference=False) == Grid(24, 1001)
    off = on | {"cross_frame_attention": False}
    assert chain_grid(off, has_reference=True) == Grid(3, 1001)  # the colour lock aims at the reference
    assert chain_grid(off, has_reference=False) == Grid(24, 1001)  # it aims at the chain's first frame
    assert chain_grid(on | {"segment": 0}, has_reference=False) is None


def test_hybrid_chunks_match_the_unchunked_run(setup):
    import torch

    library, _ = setup
    frames = tm.translating_plate(count=9, height=40, width=64, dx=4)
    params = {**PARAMS, "batch": 1, "keyframe_every": 3, "segment": 6}
    engine = DiffusionImageEngine(models=library)
    shot = tm.make_shot(engine, frames, params)

    def restyle(chunk: list[ModelFrame]) -> tuple[list[np.ndarray], list[int]]:
        torch.set_num_threads(1)  # numba's parallel regions in the keyframe engine reset OpenMP's count
        job, reads = chunk_of(shot, [f.number for f in chunk])
        return list(engine.restyle(job, iter(chunk))), reads

    whole, reads = restyle(frames)
    # Keys 1001, 1004, 1007 (a segment start) and 1009 (the plate lacks the grid frame 1010): the
    # carrier reads nothing from disk.
    assert reads == []
    by_number = {f.number: image.tobytes() for f, image in zip(frames, whole, strict=True)}
    for chunk, expected in (
        (frames[4:6], [1001, 1002, 1003, 1004, 1007]),  # mid-segment: repaints 1001 and 1004
        (frames[7:8], [1007, 1009]),  # the next key is the plate's last frame (1010 is missing)
    ):
        out, reads = restyle(chunk)
        assert reads == expected
        for frame, image in zip(chunk, out, strict=True):
            assert image.tobytes() == by_number[frame.number], f"frame {frame.number} differs"


def test_video_chunks_match_the_unchunked_run(setup, tmp_path):
    from stylelock.server.engines.diffusion import DiffusionVideoEngine

    library, _ = setup
    tm.build_motion_adapter(tmp_path / "motion")
    library = replace(library, motion_adapters={"ad": tmp_path / "motion"})
    frames = tm.translating_plate(count=9, height=40, width=64, dx=4)
    params = {"model": "sd", "prompt": "oil painting", "steps": 4, "seed": 3, "context": 4, "overlap": 2}
    engine = DiffusionVideoEngine(models=library)
    shot = tm.make_shot(engine, frames, params)
    try:
        outputs = engine.restyle(shot, iter(frames))
        whole = {f.number: out.tobytes() for f, out in zip(frames, outputs, strict=True)}
        # Windows of 4 start at 1001, 1003, 1005, 1007: 1004 and 1005 lie in windows 1001-1008,
        # 1009 in the last one only (1007-1009: the plate ends).
        cases = (([1004, 1005], [1001, 1002, 1003, 1006, 1007, 1008]), ([1009], [1007, 1008]))
        for chunk, expected in cases:
            job, reads = chunk_of(shot, chunk)
            out = list(engine.restyle(job, iter(frames[n - 1001] for n in chunk)))
            assert sorted(reads) == expected
            for number, image in zip(chunk, out, strict=True):
                assert image.tobytes() == whole[number], f"frame {number} differs"
    finally:
        engine.close()
