"""The committed gRPC stubs must match what grpcio-tools generates from the .proto files today."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "proto" / "stylelock" / "v1"


def _load_generator():
    spec = importlib.util.spec_from_file_location("stylelock_proto_generate", ROOT / "proto" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    generator = _load_generator()
    fresh = generator.generate(tmp_path)
    assert fresh, "protoc produced no stubs"
    stale = []
    for path in fresh:
        committed = PACKAGE / path.name
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(path.name)
    assert not stale, f"stale stubs {stale}: run `python proto/generate.py` and commit the result"
    generated_names = {p.name for p in fresh}
    orphans = [p.name for p in PACKAGE.glob("*_pb2*.py*") if p.name not in generated_names]
    assert not orphans, f"stubs without a .proto: {orphans}"


def test_stale_check_notices_a_changed_proto(tmp_path: Path) -> None:
    """The comparison above is not vacuous: a changed .proto yields different stubs."""
    generator = _load_generator()
    copy_root = tmp_path / "src"
    (copy_root / "stylelock" / "v1").mkdir(parents=True)
    for proto in generator.proto_files():
        text = proto.read_text()
        if proto.name == "stylelock.proto":
            text = text.replace("message CancelJobRequest {", "message CancelJobRequest {\n  bool force = 9;")
        (copy_root / "stylelock" / "v1" / proto.name).write_text(text)
    generator.PROTO_ROOT = copy_root
    generator.PACKAGE_DIR = copy_root / "stylelock" / "v1"
    fresh = generator.generate(tmp_path / "out")
    changed = [p.name for p in fresh if p.read_bytes() != (PACKAGE / p.name).read_bytes()]
    assert "stylelock_pb2.py" in changed


def test_stubs_import_as_the_stylelock_v1_package() -> None:
    from stylelock.v1 import stylelock_pb2, stylelock_pb2_grpc

    assert stylelock_pb2.DESCRIPTOR.package == "stylelock.v1"
    assert hasattr(stylelock_pb2_grpc, "StyleLockServicer")
