"""Configs for single-file ControlNets and motion adapters, which carry weights only.

Given a single file, diffusers looks up the config of a well-known Hub repository; offline (always,
here) that fails with a message about a repository the artist never named. A file's config comes
instead from, in order: a folder next to it named like it (`cn-depth.safetensors` + `cn-depth/` or
`cn-depth.config/`) or a `config/` folder beside it holding `config.json`; else a config derived from
the job's base model and the file's own tensor shapes:

- a ControlNet copies its base model's encoder (`ControlNetModel.from_unet`), so the UNet's config
  is right for every ControlNet made for that architecture (the standard SD 1.x ones, full-size
  SDXL ones); a reduced one (SDXL "small", "mid") fails loudly, its weights not fitting. A config
  flag no weight shows cannot be derived: lllyasviel's `control_v11e_sd15_shuffle` needs
  `global_pool_conditions`, so it needs its config.json beside it;
- an AnimateDiff motion module (`mm_sd_v15_v2.ckpt` and kin, original layout) follows the SD 1.x
  UNet's blocks; its context length is the shape of its positional encodings, a mid-block module is
  there or not, and every release uses 8 attention heads (not visible in any weight's shape).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stylelock.core.errors import EngineError

#: The attention heads of every released AnimateDiff motion module.
MOTION_HEADS = 8


def one_line(exc: BaseException) -> str:
    """An exception as one line for an error message: its type and the first line of its text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def checkpoint_shapes(path: Path, what: str) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of a checkpoint file (safetensors: the header alone)."""
    import torch

    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as handle:
                return {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
        data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        data = data.get("state_dict", data)
        return {k: tuple(v.shape) for k, v in data.items() if hasattr(v, "shape")}
    except Exception as exc:
        raise EngineError(f"{what} {str(path)!r} is not a readable checkpoint: {one_line(exc)}") from None


@contextmanager
def config_folder(
    path: Path, class_name: str, derive: Callable[[], dict[str, Any]]
) -> Iterator[tuple[Path, bool]]:
    """(a folder holding the `config.json` of `class_name` for the single file `path`, whether it
    was derived). A config beside the file written for another kind of model (a shared `config/`
    folder holding a ControlNet's, next to a motion module) is passed over."""
    stem = path.with_suffix("")
    for candidate in (stem, stem.with_name(stem.name + ".config"), path.parent / "config"):
        if _config_class(candidate / "config.json") in (class_name, ""):
            yield candidate, False
            return
    with tempfile.TemporaryDirectory(prefix="stylelock-config-") as folder:
        (Path(folder) / "config.json").write_text(json.dumps(derive()))
        yield Path(folder), True


def _config_class(file: Path) -> str | None:
    """The `_class_name` of a config file ("" when it names none), None when there is no such file."""
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return str(data.get("_class_name", "")) if isinstance(data, dict) else None


def config_tag(config: Mapping[str, Any]) -> str:
    """A short digest of a derived config, for cache keys (the same file under another config is
    another model)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def controlnet_config(unet_config: Mapping[str, Any]) -> dict[str, Any]:
    """The config of a ControlNet for the UNet whose config is `unet_config`."""
    from diffusers import ControlNetModel

    accepted = set(inspect.signature(ControlNetModel.__init__).parameters) - {"self"}
    config = {k: v for k, v in dict(unet_config).items() if k in accepted}
    return {**config, "_class_name": "ControlNetModel", "conditioning_channels": 3}


def motion_adapter_config(path: Path, unet_config: Mapping[str, Any]) -> dict[str, Any]:
    """The config of the original-layout AnimateDiff motion module `path` for an SD 1.x UNet."""
    shapes = checkpoint_shapes(path, "motion adapter")
    encodings = [shape for name, shape in shapes.items() if name.endswith(".pos_encoder.pe")]
    if not encodings or len(encodings[0]) != 3:
        raise EngineError(
            f"motion adapter {str(path)!r} is not an AnimateDiff motion module in the original layout "
            "(no positional encodings); give a diffusers MotionAdapter folder, or put its config.json "
            f"in {str(path.with_suffix(''))!r}"
        )
    return {
        "_class_name": "MotionAdapter",
        "block_out_channels": list(unet_config["block_out_channels"]),
        "motion_layers_per_block": int(unet_config["layers_per_block"]),
        "motion_norm_num_groups": int(unet_config["norm_num_groups"]),
        "motion_num_attention_heads": MOTION_HEADS,
        "motion_max_seq_length": int(encodings[0][1]),
        "use_motion_mid_block": any(name.startswith("mid_block.motion_modules.") for name in shapes),
    }
