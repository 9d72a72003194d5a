"""Loading diffusers pipelines from local disk, keeping them resident, and fitting them on the card.

Imported only at run time (it imports torch and diffusers). Pipelines stay loaded between jobs in a
small LRU keyed by what makes them different (path, dtype, device); ControlNets are cached the same
way and attached per job with `from_pipe`, which shares the base model's modules instead of copying
them. Everything is loaded with `local_files_only=True`: a server never reaches for the network.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stylelock.core.errors import EngineError, StyleLockError
from stylelock.server.engines.diffusion.library import (
    ModelLibrary,
    ModelSource,
    config_candidates,
    family_of_folder,
)
from stylelock.server.engines.diffusion.single_file import (
    checkpoint_shapes,
    config_folder,
    config_tag,
    controlnet_config,
    one_line,
)

log = logging.getLogger(__name__)

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str) -> str:
    """`auto` is the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError(f"device {device!r} was asked for but this machine has no CUDA device")
    return device


def resolve_dtype(name: str, device: str, warn: Callable[[str], None] | None = None) -> torch.dtype:
    """`auto` is fp16 on CUDA and fp32 elsewhere; fp16 on a CPU runs as fp32 (CPU kernels lack it)."""
    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    dtype = _DTYPES[name]
    if dtype == torch.float16 and not device.startswith("cuda"):
        if warn is not None:
            warn(f"dtype fp16 is not supported on {device}; running in fp32")
        return torch.float32
    return dtype


@dataclass(frozen=True)
class CacheKey:
    kind: str
    path: str
    dtype: str
    device: str
    extra: tuple[str, ...] = ()


class PipelineCache:
    """A thread-safe LRU of loaded models; evicting one frees its device memory."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self._items: OrderedDict[CacheKey, Any] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, key: CacheKey, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = build()
            self._items[key] = value
            while len(self._items) > self.capacity:
                old, _ = self._items.popitem(last=False)
                log.info("unloading %s (least recently used)", old.path)
                free_memory(old.device)
            return value

    def evict_one(self, keep: CacheKey | None = None) -> bool:
        """Drop the least recently used entry other than `keep`; False when nothing is left to drop."""
        with self._lock:
            for key in self._items:
                if key != keep:
                    del self._items[key]
                    free_memory(key.device)
                    return True
            return False

    def clear(self) -> None:
        with self._lock:
            devices = {key.device for key in self._items}
            self._items.clear()
            for device in devices:
                free_memory(device)

    def __len__(self) -> int:
        return len(self._items)


#: Models resident in this process, shared by both diffusion engines: base pipelines, ControlNets and
#: AnimateDiff pipelines. On a card, what does not fit evicts the least recently used first
#: (`move_to_device`); the count only bounds what stays loaded when memory is plentiful.
PIPELINES = PipelineCache(capacity=6)


def free_memory(device: str) -> None:
    """Hand the allocator's cached blocks on `device` back (after an eviction or running out of memory)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def reraise_unless_oom(exc: BaseException, failed: str) -> None:
    """Return when `exc` is running out of device memory (the caller retries smaller); otherwise
    raise it: a StyleLockError as it is, anything else as an EngineError "`failed`: `exc`"."""
    if is_oom(exc):
        return
    if isinstance(exc, StyleLockError):
        raise exc
    raise EngineError(f"{failed}: {exc}") from exc


# -- fitting on the card ------------------------------------------------------------------------------
def module_bytes(pipe: Any) -> int:
    total = 0
    for component in getattr(pipe, "components", {}).values():
        if isinstance(component, torch.nn.Module):
            total += sum(p.numel() * p.element_size() for p in component.parameters())
            total += sum(b.numel() * b.element_size() for b in component.buffers())
    return total


def move_to_device(pipe: Any, device: str, what: str, key: CacheKey | None = None) -> Any:
    """Move a CPU-loaded model onto `device`, evicting resident models first if it would not fit."""
    if not device.startswith("cuda"):
        return pipe.to(device) if device != "cpu" else pipe
    need = module_bytes(pipe) if hasattr(pipe, "components") else _single_module_bytes(pipe)
    while True:
        free, total = torch.cuda.mem_get_info(torch.device(device))
        if need < free * 0.9 or not PIPELINES.evict_one(keep=key):
            break
    if need > total:
        raise EngineError(
            f"{what} needs {need / 2**30:.1f} GiB of weights but {device} has "
            f"{total / 2**30:.1f} GiB in all; "
            "it does not fit this card (try dtype=fp16 or a smaller model)"
        )
    try:
        return pipe.to(device)
    except Exception as exc:
        if is_oom(exc):
            raise EngineError(
                f"{what} does not fit the memory of {device} ({need / 2**30:.1f} GiB of weights, "
                f"{free / 2**30:.1f} GiB free)"
            ) from None
        raise


def _single_module_bytes(module: Any) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


# -- base pipelines -----------------------------------------------------------------------------------
def image_pipeline_class(family: str) -> type:
    import diffusers

    return (
        diffusers.StableDiffusionXLImg2ImgPipeline
        if family == "sdxl"
        else diffusers.StableDiffusionImg2ImgPipeline
    )


def load_base(
    source: ModelSource,
    dtype: torch.dtype,
    device: str,
    library: ModelLibrary | None,
    *,
    kind: str = "img2img",
) -> Any:
    """The resident img2img pipeline for `source` (loaded once, then taken from the LRU)."""
    key = CacheKey(kind, str(source.path), str(dtype), device)
    return PIPELINES.get(key, lambda: _load_base(source, dtype, device, library, key))


def _load_base(
    source: ModelSource, dtype: torch.dtype, device: str, library: ModelLibrary | None, key: CacheKey
) -> Any:
    family = source.family
    config: Path | None = None
    if source.format == "single_file":
        family = single_file_family(source.path)
        config = _single_file_config(source, family, library)
    cls = image_pipeline_class(family or "sd")
    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    if family != "sdxl":
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    log.info("loading %s (%s, %s) for %s", source.path, source.format, family, device)
    try:
        if source.format == "single_file":
            pipe = cls.from_single_file(str(source.path), config=str(config), **kwargs)
        else:
            pipe = cls.from_pretrained(str(source.path), **kwargs)
    except EngineError:
        raise
    except Exception as exc:
        if is_oom(exc):
            raise EngineError(f"model {str(source.path)!r} does not fit in memory while loading") from None
        raise EngineError(f"model {str(source.path)!r} does not load: {one_line(exc)}") from None
    pipe.set_progress_bar_config(disable=True)
    pipe._stylelock_family = family or "sd"
    pipe._stylelock_scheduler_class = type(pipe.scheduler)
    pipe._stylelock_scheduler_config = dict(pipe.scheduler.config)
    pipe._stylelock_ip_adapter = None
    return move_to_device(pipe, device, f"model {str(source.path)!r}", key)


def single_file_family(path: Path) -> str:
    """`sdxl`, `sd2` (OpenCLIP text encoder) or `sd`, from the checkpoint's key names (safetensors: the
    header alone)."""
    keys = checkpoint_shapes(path, "model")
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "sdxl"
    return "sd2" if any(k.startswith("cond_stage_model.model.") for k in keys) else "sd"


def _single_file_config(source: ModelSource, family: str, library: ModelLibrary | None) -> Path:
    for candidate in config_candidates(source, library):
        if candidate == source.config or family_of_folder(candidate) == family:
            return candidate
    stem = source.path.with_suffix("")
    raise EngineError(
        f"single-file model {str(source.path)!r} ({family}) needs a diffusers config folder of its family "
        f"to load offline (model_index.json, component configs and tokenizer files): give one with "
        f"--model-config NAME=DIR, put it at {str(stem)!r}, or register a diffusers {family} folder"
    )


# -- ControlNets and IP-Adapters ----------------------------------------------------------------------
def load_controlnet(path: Path, dtype: torch.dtype, device: str, unet_config: Mapping[str, Any]) -> Any:
    """The resident ControlNet at `path`: a diffusers folder, or a single file (diffusers or original
    `control_model.` key layout) whose config comes from `single_file.config_folder`."""
    derived_config = controlnet_config(unet_config) if path.is_file() else None
    extra = (config_tag(derived_config),) if derived_config is not None else ()
    key = CacheKey("controlnet", str(path), str(dtype), device, extra)

    def build() -> Any:
        from diffusers import ControlNetModel

        try:
            if derived_config is not None:
                with config_folder(path, "ControlNetModel", lambda: derived_config) as (config, derived):
                    try:
                        net = ControlNetModel.from_single_file(
                            str(path), config=str(config), dtype=dtype, local_files_only=True
                        )
                    except Exception as exc:
                        if not derived:
                            raise
                        raise EngineError(
                            f"ControlNet {str(path)!r} does not load with the architecture of the job's "
                            f"model ({one_line(exc)}); if it was made for another one, put its "
                            f"diffusers config.json in {str(path.with_suffix(''))!r}"
                        ) from None
            else:
                net = ControlNetModel.from_pretrained(str(path), dtype=dtype, local_files_only=True)
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"ControlNet {str(path)!r} does not load: {one_line(exc)}") from None
        return move_to_device(net, device, f"ControlNet {str(path)!r}", key)

    return PIPELINES.get(key, build)


def with_controlnets(base: Any, nets: list[Any]) -> Any:
    """A ControlNet img2img pipeline sharing `base`'s modules (no copy, no reload)."""
    import diffusers

    if base._stylelock_family == "sdxl":
        cls = diffusers.StableDiffusionXLControlNetImg2ImgPipeline
    else:
        cls = diffusers.StableDiffusionControlNetImg2ImgPipeline
    controlnet = nets[0] if len(nets) == 1 else diffusers.MultiControlNetModel(nets)
    # from_pipe casts every shared module to `dtype` (float32 when not given): pass the base's own.
    with quiet_diffusers():
        pipe = cls.from_pipe(base, controlnet=controlnet, dtype=base.dtype)
    pipe.set_progress_bar_config(disable=True)
    pipe._stylelock_family = base._stylelock_family
    return pipe


def ensure_ip_adapter(pipe: Any, path: Path | None, dtype: torch.dtype, device: str) -> None:
    """Load the IP-Adapter at `path` into the resident pipeline, or unload one when `path` is None.

    `path` is a folder holding `image_encoder/` and one adapter weights file, or the weights file
    itself with `image_encoder/` beside it (the layout IP-Adapter releases use).
    """
    current = getattr(pipe, "_stylelock_ip_adapter", None)
    if current == (str(path) if path else None):
        return
    if current is not None:
        pipe.unload_ip_adapter()
        pipe._stylelock_ip_adapter = None
    if path is None:
        return
    folder, weight_name = _ip_adapter_files(path)
    try:
        from transformers import CLIPVisionModelWithProjection

        encoder = CLIPVisionModelWithProjection.from_pretrained(
            str(folder / "image_encoder"), dtype=dtype, local_files_only=True
        ).to(device)
        pipe.register_modules(image_encoder=encoder, feature_extractor=None)
        with quiet_diffusers():
            pipe.load_ip_adapter(
                str(folder),
                subfolder="",
                weight_name=weight_name,
                image_encoder_folder=None,
                local_files_only=True,
            )
    except Exception as exc:
        _undo_ip_adapter(pipe)  # leave the resident pipeline as it was
        raise EngineError(f"IP-Adapter {str(path)!r} does not load: {one_line(exc)}") from None
    pipe._stylelock_ip_adapter = str(path)


def _undo_ip_adapter(pipe: Any) -> None:
    try:
        pipe.unload_ip_adapter()
    except Exception:  # nothing reached the UNet: drop the encoder alone
        log.debug("IP-Adapter unload after a failed load found nothing to unload")
        pipe.register_modules(image_encoder=None, feature_extractor=None)


def _ip_adapter_files(path: Path) -> tuple[Path, str]:
    if path.is_file():
        folder, weight_name = path.parent, path.name
    else:
        folder = path
        weights = sorted(p.name for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
        if len(weights) != 1:
            found = ", ".join(weights) or "none"
            raise EngineError(
                f"IP-Adapter folder {str(path)!r} must hold exactly one weights file (found: {found}); "
                "name the file instead"
            )
        weight_name = weights[0]
    if not (folder / "image_encoder" / "config.json").is_file():
        raise EngineError(f"IP-Adapter {str(path)!r} has no image_encoder/ folder beside its weights")
    return folder, weight_name


@contextmanager
def quiet_diffusers() -> Iterator[None]:
    """Silence diffusers' warnings for a call that is known to trigger harmless ones (from_pipe's cast)."""
    from diffusers.utils import logging as dlogging

    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()
    try:
        yield
    finally:
        dlogging.set_verbosity(level)


def fresh_scheduler(pipe: Any, name: str) -> Any:
    """A new scheduler instance per job (schedulers carry state), of the chosen kind."""
    import diffusers

    config = pipe._stylelock_scheduler_config
    classes = {
        "model": pipe._stylelock_scheduler_class,
        "ddim": diffusers.DDIMScheduler,
        "euler": diffusers.EulerDiscreteScheduler,
        "euler_a": diffusers.EulerAncestralDiscreteScheduler,
        "dpmpp_2m": diffusers.DPMSolverMultistepScheduler,
    }
    return classes[name].from_config(config)
