"""The Blender extension's packaging and colour choice, without Blender (tests/hosts/blender runs it)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from stylelock.core.hosts.blender_extension import (
    PLATFORMS,
    blender_platforms_of_wheel,
    check_platform_coverage,
    manifest_text,
)
from stylelock.core.hosts.host_colour import plate_colour
from stylelock.core.hosts.packaging import PackagingError
from stylelock.core.hosts.wheel import write_wheel


def test_wheel_platform_tags_map_to_blender_platforms_as_its_installer_reads_them():
    assert blender_platforms_of_wheel("grpcio-1-cp311-cp311-macosx_11_0_universal2.whl") == {
        "macos-x64",
        "macos-arm64",
    }
    assert blender_platforms_of_wheel("g-1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl") == {
        "linux-x64"
    }
    assert blender_platforms_of_wheel("p-1-cp310-abi3-win_amd64.whl") == {"windows-x64"}
    assert blender_platforms_of_wheel("p-1-cp310-abi3-macosx_11_0_arm64.whl") == {"macos-arm64"}
    assert blender_platforms_of_wheel("f-1-py3-none-any.whl") == set(PLATFORMS)


def test_a_platform_without_a_wheel_fails_the_build_naming_it():
    wheels = [
        "grpcio-1-cp311-cp311-manylinux_2_17_x86_64.whl",
        "grpcio-1-cp311-cp311-win_amd64.whl",
        "grpcio-1-cp311-cp311-macosx_11_0_arm64.whl",
        "fileseq-3-py3-none-any.whl",
    ]
    with pytest.raises(PackagingError, match="no grpcio wheel for Blender on macos-x64"):
        check_platform_coverage(wheels)
    check_platform_coverage([*wheels, "grpcio-1-cp311-cp311-macosx_10_9_x86_64.whl"])


def test_the_manifest_is_toml_with_the_wheels_listed():
    import tomllib

    manifest = tomllib.loads(manifest_text("1.2.3", ["./wheels/a-1-py3-none-any.whl"]))
    assert manifest["version"] == "1.2.3" and manifest["wheels"] == ["./wheels/a-1-py3-none-any.whl"]
    assert manifest["type"] == "add-on" and len(manifest["tagline"]) <= 64
    assert all(len(reason) <= 64 and reason[-1].isalnum() for reason in manifest["permissions"].values())


def test_a_written_wheel_records_every_file_with_its_hash(tmp_path: Path):
    import base64
    import hashlib

    path = write_wheel(tmp_path, "demo_pkg", "0.1", [("demo_pkg/__init__.py", b"X = 1\n")], requires=["a==1"])
    assert path.name == "demo_pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path) as wheel:
        record = wheel.read("demo_pkg-0.1.dist-info/RECORD").decode().splitlines()
        metadata = wheel.read("demo_pkg-0.1.dist-info/METADATA").decode()
        for line in record:
            name, digest, size = line.split(",")
            if name.endswith("RECORD"):
                assert digest == size == ""
                continue
            data = wheel.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}" and int(size) == len(data)
    assert "Requires-Dist: a==1" in metadata
    again = write_wheel(
        tmp_path / "again", "demo_pkg", "0.1", [("demo_pkg/__init__.py", b"X = 1\n")], requires=["a==1"]
    )
    assert again.read_bytes() == path.read_bytes()  # the same sources make the same bytes


def test_plate_colour_names_the_hosts_config_unless_the_bundled_one_knows_the_name():
    bundled = {"source": "bundled"}
    names = {"Linear Rec.709", "ACEScg"}
    host = "/blender/datafiles/colormanagement/config.ocio"
    assert plate_colour("ACEScg", bundled_names=names, server_colour=bundled, host_config=host) == (
        "ACEScg",
        "",
    )
    assert plate_colour("AgX Log", bundled_names=names, server_colour=bundled, host_config=host) == (
        "AgX Log",
        host,
    )
    studio = {"source": "$OCIO"}
    assert plate_colour("ACEScg", bundled_names=names, server_colour=studio, host_config=host) == (
        "ACEScg",
        host,
    )
    assert plate_colour("", bundled_names=names, server_colour=bundled, host_config=host) == ("", host)
