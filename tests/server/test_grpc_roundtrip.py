"""The passthrough round trip through a real server equals the in-process run, byte for byte.

Over loopback TCP and a unix socket, with inline transport (frames uploaded and streamed back) and
with shared paths (the server reads and writes under its allowed roots). An edited round trip
through the server matches OCIO's own forward and inverse (`colour_reference`), so the server's
colour path is proven on its own, not only by agreeing with the in-process one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from colour_reference import assert_halved, write_reference_plate
from exr_fixtures import random_plate_channels, raw_headers, read_native, write_test_exr
from grpc_fixtures import partial_files, register_engine, serve, tiny_plate
from pipeline_engines import HalveEngine

from stylelock.core.client import StyleLockClient, run_remote
from stylelock.core.jobspec import ColourSettings, JobSpec, OutputSettings, StyleReference
from stylelock.core.sequence import FramePattern, parse_frames
from stylelock.server.pipeline import run_job
from stylelock.v1 import stylelock_pb2 as pb


def _tricky_plate(folder: Path, frames: str) -> str:
    """Float and half channels, 1e-4..1e4 and negatives, AOVs, overscan, pixel aspect 2, PIZ, attributes."""
    pattern = FramePattern.parse(str(folder / "tricky.####.exr"))
    folder.mkdir(parents=True, exist_ok=True)
    for frame in parse_frames(frames):
        write_test_exr(
            pattern.path(frame),
            random_plate_channels(40, 56, seed=frame, with_uint=False),
            data_window=(-4, -2, 56, 40),
            display_window=(0, 0, 48, 36),
            pixel_aspect=2.0,
            compression="piz",
            attributes={"shot": "sh010", "stylelock:test": "tricky"},
        )
    return pattern.pattern


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[JobSpec, str]]:
    """Specs (without output) and the in-process reference output pattern of each."""
    root = tmp_path_factory.mktemp("plates")
    sample = tiny_plate(root / "sample", frames="1001-1003")
    style = FramePattern.parse(sample).path(1002)
    specs = {
        "sample": JobSpec(
            plate=sample, frames="1001-1003", engine="passthrough", styles=(StyleReference(style, 1002),)
        ),
        "tricky": JobSpec(plate=_tricky_plate(root / "tricky", "7-8"), frames="7-8", engine="passthrough"),
    }
    out = {}
    for name, spec in specs.items():
        reference = str(root / f"reference_{name}" / "ref.####.exr")
        run_job(spec.with_changes(output=OutputSettings(pattern=reference)))
        out[name] = (spec, reference)
    return out


def assert_same_frames(spec: JobSpec, got: str, reference: str) -> None:
    got_pattern, ref_pattern = FramePattern.parse(got), FramePattern.parse(reference)
    for frame in parse_frames(spec.frames):
        mine, theirs = got_pattern.path(frame), ref_pattern.path(frame)
        # Decoded pixels and headers first (a readable failure), then the bytes themselves.
        for a, b in zip(read_native(mine), read_native(theirs), strict=True):
            assert list(a) == list(b)
            for channel in a:
                assert np.array_equal(a[channel].view(np.uint8), b[channel].view(np.uint8)), channel
        assert raw_headers(mine) == raw_headers(theirs)
        assert Path(mine).read_bytes() == Path(theirs).read_bytes()
    assert partial_files(Path(got).parent) == []


@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("inline", [True, False], ids=["inline", "shared"])
def test_passthrough_through_the_server_equals_in_process(
    jobs: dict[str, tuple[JobSpec, str]], tmp_path: Path, transport: str, inline: bool
) -> None:
    roots = {Path(spec.plate).parents[1] for spec, _ in jobs.values()} | {tmp_path}
    with serve(transport, allow_roots=roots) as (server, address):
        for name, (spec, reference) in jobs.items():
            output = str(tmp_path / name / "out.####.exr")
            events = []
            frames = run_remote(
                address,
                spec.with_changes(output=OutputSettings(pattern=output)),
                inline=inline,
                on_event=events.append,
            )
            assert frames == parse_frames(spec.frames)
            assert_same_frames(spec, output, reference)
            kinds = [e.kind for e in events]
            assert kinds[0] == "queued" and kinds[-1] == "finished"
            done = [e for e in events if e.kind == "frame_done"]
            assert [e.frame for e in done] == frames
            assert all(e.seconds > 0 and "engine" in e.timings for e in done)
            assert all(Path(e.path).is_file() for e in done)  # local paths, also for inline jobs
        spool = server.manager.spool_root
        assert list(spool.iterdir()) == []  # inline spools are freed once their frames are delivered


def test_auto_transport_picks_shared_paths_only_under_the_servers_roots(
    jobs: dict[str, tuple[JobSpec, str]], tmp_path: Path
) -> None:
    spec, reference = jobs["tricky"]
    plate_root = Path(spec.plate).parents[1]
    for roots, expect_inline in (([plate_root, tmp_path], False), ([], True)):
        output = str(tmp_path / f"auto{int(expect_inline)}" / "out.####.exr")
        with serve(allow_roots=roots) as (_, address):
            run_remote(address, spec.with_changes(output=OutputSettings(pattern=output)))
            with StyleLockClient(address) as client:
                (job,) = client.jobs(include_ended=True)
        assert job.inline is expect_inline
        assert_same_frames(spec, output, reference)


def test_a_frame_far_above_the_message_limit_streams_in_1mib_chunks(tmp_path: Path) -> None:
    """A 12 MiB float frame through a server and client limited to 4 MiB messages, both ways.

    (A 4K float frame is the same mechanism at 11x the chunks; the pipeline's colour work makes
    one take many seconds on a CI machine, so this test stays smaller.)
    """
    height, width = 768, 1024
    ramp = np.linspace(-1.0, 1000.0, height * width, dtype=np.float32).reshape(height, width)
    channels = {"R": ramp, "G": ramp[::-1].copy(), "B": np.sqrt(np.abs(ramp)), "A": np.ones_like(ramp)}
    plate = tmp_path / "big" / "big.####.exr"
    plate.parent.mkdir()
    write_test_exr(str(plate).replace("####", "0001"), channels, compression="none")
    del channels, ramp
    frame_bytes = Path(str(plate).replace("####", "0001")).stat().st_size
    assert frame_bytes > 3 * 4 * 1024 * 1024  # far above the 4 MiB message limit
    spec = JobSpec(plate=str(plate), frames="1", engine="passthrough")
    reference = str(tmp_path / "ref" / "ref.####.exr")
    run_job(spec.with_changes(output=OutputSettings(pattern=reference)))
    output = tmp_path / "out" / "out.####.exr"
    sizes = []
    with (
        serve(max_message_bytes=4 * 1024 * 1024) as (_, address),
        StyleLockClient(address) as client,
        open(tmp_path / "streamed.exr", "wb") as handle,
    ):
        job_id = client.submit(spec.with_changes(output=OutputSettings(pattern=str(output))), inline=True)
        for message in client._stub.WatchJob(pb.WatchJobRequest(job_id=job_id, include_frames=True)):
            if message.kind == pb.EVENT_KIND_FRAME_CHUNK:
                sizes.append(len(message.chunk.data))
                handle.write(message.chunk.data)
    assert max(sizes) <= 1024 * 1024 and len(sizes) >= frame_bytes // (1024 * 1024)
    assert (tmp_path / "streamed.exr").read_bytes() == Path(reference.replace("####", "0001")).read_bytes()


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "shared"])
def test_an_edited_round_trip_through_the_server_matches_ocio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline: bool
) -> None:
    register_engine(monkeypatch, HalveEngine)
    plate = write_reference_plate(tmp_path / "plate", [7, 8], "sRGB")
    with serve(allow_roots=[tmp_path]) as (_, address):
        for encoding in ("srgb", "acescct"):
            output = str(tmp_path / encoding / "h.####.exr")
            spec = JobSpec(
                plate=plate,
                frames="7-8",
                engine=HalveEngine.name,
                colour=ColourSettings(input_space="sRGB", encoding=encoding),
                output=OutputSettings(pattern=output),
            )
            assert run_remote(address, spec, inline=inline) == [7, 8]
            for frame in (7, 8):
                assert_halved(plate.replace("####", f"{frame:04d}"), output.replace("####", f"{frame:04d}"),
                              "sRGB", encoding)  # fmt: skip
