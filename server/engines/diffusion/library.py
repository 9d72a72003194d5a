"""The models a server offers to the diffusion engines: names to paths on local disk, and what they are.

`stylelock serve --model sd15=/models/sd15 --model sdxl=/models/sdxl.safetensors --controlnet
depth=/models/cn-depth --ip-adapter /models/ip-adapter --motion-adapter /models/animatediff` builds one
`ModelLibrary`; every engine receives it. A job names a model by its registered name or by a path.
Nothing here imports torch: the library is built and listed (`stylelock info`) without loading a model.

Formats recognised:

- a diffusers folder (has `model_index.json`, or `config.json` for a single model such as a ControlNet);
- a single-file checkpoint (`.safetensors`, `.ckpt`, `.pt`, `.bin`) in the original Stable Diffusion
  layout. Loading one offline needs the diffusers configs of its family (component configs and the
  tokenizer files): an explicit `--model-config NAME=DIR`, a folder next to the file named like it
  (`sdxl.safetensors` + `sdxl/` or `sdxl.config/`), or a registered diffusers folder of the same family.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stylelock.core.errors import EngineError, SpecError

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
DEFAULT_NAME = "default"


def _frozen(paths: Mapping[str, str | Path] | None) -> Mapping[str, Path]:
    return MappingProxyType({str(k): Path(v).expanduser() for k, v in sorted((paths or {}).items())})


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: where it is and how to load it."""

    path: Path
    format: str
    """`diffusers` (a folder with model_index.json) or `single_file`."""
    config: Path | None = None
    """For a single file: the diffusers config folder found for it (None: search at load time)."""
    family: str | None = None
    """`sd` (1.x), `sd2` or `sdxl` when known from the folder; None for a single file until it is opened."""


@dataclass(frozen=True)
class ModelLibrary:
    """Named models on local disk. Construct with `from_cli` or directly with mappings name -> path."""

    models: Mapping[str, Path] = field(default_factory=dict)
    controlnets: Mapping[str, Path] = field(default_factory=dict)
    ip_adapters: Mapping[str, Path] = field(default_factory=dict)
    motion_adapters: Mapping[str, Path] = field(default_factory=dict)
    configs: Mapping[str, Path] = field(default_factory=dict)
    """Single-file model name -> diffusers config folder of its family."""

    def __post_init__(self) -> None:
        for name in ("models", "controlnets", "ip_adapters", "motion_adapters", "configs"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @classmethod
    def from_cli(
        cls,
        models: Iterable[str] = (),
        controlnets: Iterable[str] = (),
        ip_adapters: Iterable[str] = (),
        motion_adapters: Iterable[str] = (),
        configs: Iterable[str] = (),
    ) -> ModelLibrary:
        """Build from repeated `NAME=PATH` flags; an IP-Adapter or motion adapter may be a bare PATH."""
        return cls(
            models=_parse_pairs("--model", models, allow_bare=False),
            controlnets=_parse_pairs("--controlnet", controlnets, allow_bare=False),
            ip_adapters=_parse_pairs("--ip-adapter", ip_adapters, allow_bare=True),
            motion_adapters=_parse_pairs("--motion-adapter", motion_adapters, allow_bare=True),
            configs=_parse_pairs("--model-config", configs, allow_bare=False),
        )

    def describe(self) -> dict[str, Any]:
        """Names and paths, for `stylelock info` and the server's capability answer."""
        return {
            kind: {name: str(path) for name, path in getattr(self, kind).items()}
            for kind in ("models", "controlnets", "ip_adapters", "motion_adapters")
        }

    # -- resolution ---------------------------------------------------------------------------------
    def resolve_model(self, value: str) -> ModelSource:
        """The image model named `value` (a registered name or a path), checked to exist."""
        if not value:
            names = ", ".join(self.models) or "none registered"
            raise SpecError(f"parameter 'model' is required: a registered model ({names}) or a path")
        path = self._lookup("model", value, self.models)
        source = describe_model_path(path)
        if source.format == "single_file":
            config = self.configs.get(value)
            if config is not None:
                source = ModelSource(path=source.path, format=source.format, config=config)
        return source

    def resolve_controlnet(self, name: str) -> Path:
        path = self._lookup("ControlNet", name, self.controlnets)
        if path.is_dir() and not (path / "config.json").is_file():
            raise EngineError(f"ControlNet {str(path)!r} is not a diffusers folder (no config.json)")
        return path

    def resolve_ip_adapter(self, value: str) -> Path:
        """`value` names a registered IP-Adapter or is a path; "" picks the only registered one."""
        return self._lookup_optional("IP-Adapter", value, self.ip_adapters)

    def resolve_motion_adapter(self, value: str) -> Path:
        path = self._lookup_optional("motion adapter", value, self.motion_adapters)
        if path.is_dir() and not (path / "config.json").is_file():
            raise EngineError(f"motion adapter {str(path)!r} is not a diffusers folder (no config.json)")
        return path

    def family_folders(self) -> list[Path]:
        """Registered diffusers folders, for single files that borrow their family's configs."""
        return [p for p in self.models.values() if (p / "model_index.json").is_file()]

    def _lookup(self, kind: str, value: str, registry: Mapping[str, Path]) -> Path:
        if value in registry:
            path = registry[value]
            if not path.exists():
                raise EngineError(f"{kind} {value!r} is registered as {str(path)!r}, which does not exist")
            return path
        path = Path(value).expanduser()
        if path.exists():
            return path
        names = ", ".join(registry) or "none"
        raise EngineError(
            f"{kind} {value!r} is neither a registered name (registered: {names}) nor a path on disk"
        )

    def _lookup_optional(self, kind: str, value: str, registry: Mapping[str, Path]) -> Path:
        if value:
            return self._lookup(kind, value, registry)
        if len(registry) == 1:
            return self._lookup(kind, next(iter(registry)), registry)
        if not registry:
            raise EngineError(f"no {kind} is registered with the server; start it with one or name a path")
        raise EngineError(f"several {kind}s are registered ({', '.join(registry)}); name one")


def describe_model_path(path: Path) -> ModelSource:
    """What kind of model lives at `path`: a diffusers pipeline folder or a single checkpoint file."""
    path = Path(path)
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise EngineError(f"model folder {str(path)!r} is not a diffusers pipeline (no model_index.json)")
        return ModelSource(path=path, format="diffusers", family=family_of_folder(path))
    if path.suffix.lower() in SINGLE_FILE_SUFFIXES:
        return ModelSource(path=path, format="single_file")
    raise EngineError(
        f"model {str(path)!r} is neither a diffusers folder nor a checkpoint file "
        f"({', '.join(SINGLE_FILE_SUFFIXES)})"
    )


def family_of_folder(path: Path) -> str:
    """`sdxl`, `sd2` (OpenCLIP ViT-H text encoder, 1024 wide) or `sd` (SD 1.x) for a diffusers folder."""
    try:
        class_name = json.loads((path / "model_index.json").read_text()).get("_class_name", "")
        if "XL" in class_name:
            return "sdxl"
        text = path / "text_encoder" / "config.json"
        width = json.loads(text.read_text()).get("hidden_size") if text.is_file() else None
    except (OSError, ValueError) as exc:
        raise EngineError(f"model folder {str(path)!r} has an unreadable config: {exc}") from None
    return "sd2" if width == 1024 else "sd"


def config_candidates(source: ModelSource, library: ModelLibrary | None) -> list[Path]:
    """Where a single-file checkpoint's diffusers configs may be, most specific first."""
    found: list[Path] = []
    if source.config is not None:
        found.append(source.config)
    stem = source.path.with_suffix("")
    found += [stem, stem.with_name(stem.name + ".config"), source.path.parent / "config"]
    if library is not None:
        found += library.family_folders()
    unique: list[Path] = []
    for path in found:
        if path not in unique and (path / "model_index.json").is_file():
            unique.append(path)
    return unique


def _parse_pairs(flag: str, values: Iterable[str], *, allow_bare: bool) -> dict[str, Path]:
    pairs: dict[str, Path] = {}
    for text in values:
        name, sep, path = text.partition("=")
        if not sep or not name or "/" in name or "\\" in name:
            if not allow_bare:
                raise SpecError(f"{flag} {text!r} must be NAME=PATH")
            name, path = DEFAULT_NAME if DEFAULT_NAME not in pairs else f"{DEFAULT_NAME}{len(pairs)}", text
        if not path:
            raise SpecError(f"{flag} {text!r} names no path")
        if name in pairs:
            raise SpecError(f"{flag} name {name!r} is given twice")
        pairs[name] = Path(path).expanduser()
    return pairs


def controlnet_paths(text: str) -> dict[str, Path]:
    """The `controlnet_paths` parameter (`GUIDE=PATH,...`): ControlNets a job names by path."""
    paths = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise SpecError(f"controlnet_paths entry {item!r} must be GUIDE=PATH")
        paths[name.strip()] = Path(path.strip()).expanduser()
    return paths
