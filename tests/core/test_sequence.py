"""Frame ranges and sequence patterns, against real files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from stylelock.core.errors import FramesMissingError, SpecError
from stylelock.core.sequence import FramePattern, format_frames, parse_frames, resolve_plate


def touch_frames(folder: Path, name: str, frames: list[int], pad: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        (folder / f"{name}.{frame:0{pad}d}.exr").write_bytes(b"x")


# -- ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1001-1100", list(range(1001, 1101))),
        ("1001-1100x2", list(range(1001, 1101, 2))),
        ("1001,1005,1010-1020", [1001, 1005, *range(1010, 1021)]),
        ("1001", [1001]),
        ("-5--1", [-5, -4, -3, -2, -1]),
        ("-2-2", [-2, -1, 0, 1, 2]),
        ("1010-1001", list(range(1001, 1011))),
        (" 1001 - 1003 , 1007 ", [1001, 1002, 1003, 1007]),
        ("1001-1003,1002-1004", [1001, 1002, 1003, 1004]),
        # OpenJD / Deadline write the step with a colon.
        ("1001-1021:10", [1001, 1011, 1021]),
    ],
)
def test_parse_frames_forms(expr: str, expected: list[int]) -> None:
    assert parse_frames(expr) == expected


def test_parse_frames_accepts_a_list() -> None:
    assert parse_frames([1003, 1001, 1003]) == [1001, 1003]


@pytest.mark.parametrize("expr", ["", "   ", "abc", "1001-", "1001-1100x0", "1,,2", "1001.5", "1-2x0.5"])
def test_parse_frames_rejects_garbage_naming_it(expr: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_frames(expr)
    assert repr(expr) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "frames",
    [
        list(range(1001, 1025)),
        list(range(1001, 1101, 2)),
        [1001, 1005, *range(1010, 1021)],
        [1001],
        [-7, -6, -5, 0, 3, 9, 10, 11],
        [1, 2, 3, 5, 7, 9, 12, 100, 200, 300],
    ],
)
def test_format_frames_round_trips_and_is_compact(frames: list[int]) -> None:
    expr = format_frames(frames)
    assert parse_frames(expr) == sorted(frames)
    assert len(expr) <= len(",".join(map(str, frames)))


def test_format_frames_examples() -> None:
    assert format_frames(range(1001, 1025)) == "1001-1024"
    assert format_frames([1005, 1006, 1007, 1012]) == "1005-1007,1012"
    assert format_frames([]) == ""


# -- patterns ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "frame", "expected"),
    [
        ("plate.####.exr", 1001, "plate.1001.exr"),
        ("plate.%04d.exr", 1001, "plate.1001.exr"),
        ("plate.@@@@.exr", 7, "plate.0007.exr"),
        ("plate.$F4.exr", 42, "plate.0042.exr"),
        ("plate.#.exr", 7, "plate.7.exr"),
        ("plate.#.exr", 1001, "plate.1001.exr"),
        ("plate.%d.exr", 7, "plate.7.exr"),
        ("plate.$F.exr", 7, "plate.7.exr"),
        ("plate_######.exr", 1001, "plate_001001.exr"),
        ("plate.####.exr", 12345, "plate.12345.exr"),
        ("plate.####.exr", -5, "plate.-005.exr"),
        ("plate.####.exr", 0, "plate.0000.exr"),
        ("plate.#.exr", -5, "plate.-5.exr"),
        ("/jobs/my show/sh010.v002/plate.####.exr", 1001, "/jobs/my show/sh010.v002/plate.1001.exr"),
    ],
)
def test_pattern_paths(pattern: str, frame: int, expected: str) -> None:
    assert FramePattern.parse(pattern).path(frame) == expected


@pytest.mark.parametrize(
    ("pattern", "printf", "hashes"),
    [
        ("a/plate.####.exr", "a/plate.%04d.exr", "a/plate.####.exr"),
        ("a/plate.%04d.exr", "a/plate.%04d.exr", "a/plate.####.exr"),
        ("a/plate.@@@.exr", "a/plate.%03d.exr", "a/plate.###.exr"),
        ("a/plate.$F4.exr", "a/plate.%04d.exr", "a/plate.####.exr"),
        ("a/plate.#.exr", "a/plate.%d.exr", "a/plate.#.exr"),
    ],
)
def test_pattern_host_forms(pattern: str, printf: str, hashes: str) -> None:
    seq = FramePattern.parse(pattern)
    assert seq.to_printf() == printf
    assert seq.to_hashes() == hashes
    # Every form names the same files.
    assert FramePattern.parse(printf).path(1001) == seq.path(1001)
    assert FramePattern.parse(hashes).path(-3) == seq.path(-3)


@pytest.mark.parametrize(
    "pattern",
    ["plate.exr", "plate.1001.exr", "plate.1001-1024#.exr", "plate.<UDIM>.exr", "plate.%4d.exr", ""],
)
def test_pattern_without_frame_token_is_rejected(pattern: str) -> None:
    with pytest.raises(SpecError) as info:
        FramePattern.parse(pattern)
    assert repr(pattern) in str(info.value)


def test_pattern_is_a_frozen_value() -> None:
    seq = FramePattern.parse("plate.####.exr")
    assert seq == FramePattern("plate.####.exr")
    assert len({seq, FramePattern("plate.####.exr")}) == 1
    with pytest.raises(AttributeError):
        seq.pattern = "other.####.exr"  # type: ignore[misc]


def test_existing_frames_with_dots_spaces_and_negative_frames(tmp_path: Path) -> None:
    folder = tmp_path / "my show" / "sh010.v002"
    touch_frames(folder, "plate", [-3, -1, 0, 2, 1001, 1002, 1005, 12345])
    # Neighbours that are not frames of this sequence.
    (folder / "plate.01001.exr").write_bytes(b"x")  # wrong padding for ####
    (folder / "plate.abcd.exr").write_bytes(b"x")
    (folder / "plate.exr").write_bytes(b"x")
    (folder / "plate.1003.exr.tmp").write_bytes(b"x")
    (folder / "other.1004.exr").write_bytes(b"x")
    (folder / "plate.1006.exr").mkdir()  # a folder, not a frame
    seq = FramePattern.parse(str(folder / "plate.####.exr"))
    assert seq.existing_frames() == [-3, -1, 0, 2, 1001, 1002, 1005, 12345]
    assert FramePattern.parse(str(folder / "plate.%04d.exr")).existing_frames() == seq.existing_frames()
    assert FramePattern.parse(str(tmp_path / "nowhere" / "plate.####.exr")).existing_frames() == []


def test_glob_hint_matches_every_frame(tmp_path: Path) -> None:
    folder = tmp_path / "a [b].c"
    touch_frames(folder, "plate", [1001, 1002, -4])
    seq = FramePattern.parse(str(folder / "plate.####.exr"))
    matched = sorted(Path(p).name for p in __import__("glob").glob(seq.glob_hint()))
    assert matched == ["plate.-004.exr", "plate.1001.exr", "plate.1002.exr"]


# -- resolving a plate -------------------------------------------------------------------------


def test_resolve_plate_every_frame_present(tmp_path: Path) -> None:
    folder = tmp_path / "dir with space.v1"
    touch_frames(folder, "plate", list(range(1001, 1011)))
    plate = resolve_plate(str(folder / "plate.####.exr"), "1001-1010x3")
    assert plate == [(f, str(folder / f"plate.{f}.exr")) for f in (1001, 1004, 1007, 1010)]
    assert all(Path(p).is_file() for _, p in plate)


def test_resolve_plate_negative_frames(tmp_path: Path) -> None:
    touch_frames(tmp_path, "plate", [-2, -1, 0, 1])
    plate = resolve_plate(str(tmp_path / "plate.####.exr"), "-2-1")
    assert [Path(p).name for _, p in plate] == [
        "plate.-002.exr",
        "plate.-001.exr",
        "plate.0000.exr",
        "plate.0001.exr",
    ]


def test_resolve_plate_names_missing_frames_compactly(tmp_path: Path) -> None:
    present = [f for f in range(1001, 1025) if f not in (1005, 1006, 1007, 1012)]
    touch_frames(tmp_path, "plate", present)
    pattern = str(tmp_path / "plate.####.exr")
    with pytest.raises(FramesMissingError) as info:
        resolve_plate(pattern, "1001-1024")
    message = str(info.value)
    assert "\n" not in message
    assert "4 frames (1005-1007, 1012) of 1001-1024 are missing from" in message
    assert pattern in message
    assert info.value.missing == [1005, 1006, 1007, 1012]
    assert info.value.exit_code == 3


def test_resolve_plate_single_missing_and_missing_folder(tmp_path: Path) -> None:
    touch_frames(tmp_path, "plate", [1, 2], pad=1)
    with pytest.raises(FramesMissingError, match=r"1 frame \(3\) of 1-3 is missing .*on disk: 1-2"):
        resolve_plate(str(tmp_path / "plate.#.exr"), "1-3")
    with pytest.raises(FramesMissingError, match="does not exist"):
        resolve_plate(str(tmp_path / "absent" / "plate.####.exr"), "1001")


def test_resolve_plate_long_gaps_stay_one_short_line(tmp_path: Path) -> None:
    touch_frames(tmp_path, "p", [f for f in range(1, 400) if f % 7 != 0 and f % 11 != 0])
    with pytest.raises(FramesMissingError) as info:
        resolve_plate(str(tmp_path / "p.####.exr"), "1-399")
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    assert "more runs" in message


def test_resolve_plate_bad_inputs_are_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        resolve_plate(str(tmp_path / "plate.exr"), "1-3")
    with pytest.raises(SpecError):
        resolve_plate(str(tmp_path / "plate.####.exr"), "one to three")
