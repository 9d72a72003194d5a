"""`diffusion-video`: AnimateDiff video-to-video over overlapping windows with cross-faded seams.

Imported at run time only. The motion model sees `context` frames at once; a longer shot is cut into
windows that start every `context - overlap` frames, and the frames two windows share are cross-faded
linearly in pixel space (the later window's weight rising across the overlap), so no seam shows as
a jump. Frames stream: at most one window is held. As in `diffusion-image`, the frames are encoded
here and the noise of frame F comes from its own CPU generator seeded by (seed, F), so a frame's
noise does not depend on which window it falls in.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

import numpy as np
import torch

from stylelock.core.errors import EngineError, SpecError
from stylelock.server.engines.base import ModelFrame, ShotContext
from stylelock.server.engines.diffusion import latents as lat
from stylelock.server.engines.diffusion.image_job import Cancelled
from stylelock.server.engines.diffusion.library import ModelLibrary
from stylelock.server.engines.diffusion.loading import (
    PIPELINES,
    CacheKey,
    ensure_ip_adapter,
    free_memory,
    fresh_scheduler,
    is_oom,
    load_base,
    move_to_device,
    quiet_diffusers,
    reraise_unless_oom,
    resolve_dtype,
)
from stylelock.server.engines.diffusion.noise import frame_noise
from stylelock.server.engines.diffusion.run import RUN_LOCK, begin
from stylelock.server.engines.diffusion.style import job_look


def restyle_video(
    shot: ShotContext, frames: Iterator[ModelFrame], library: ModelLibrary, device: str
) -> Iterator[np.ndarray]:
    started = begin(shot, frames, device)
    if started is None:
        return
    device, first, frames = started
    context, overlap = int(shot.params["context"]), int(shot.params["overlap"])
    if overlap >= context:
        raise SpecError(f"overlap {overlap} must be smaller than the context of {context} frames")
    with RUN_LOCK:
        job = VideoJob(shot, library, device)
        try:
            yield from _windows(job, chain([first], frames), context, overlap)
        except Cancelled:
            return


def _windows(job: VideoJob, frames: Iterator[ModelFrame], context: int, overlap: int) -> Iterator[np.ndarray]:
    stride = context - overlap
    window: list[ModelFrame] = []
    carried: list[np.ndarray] = []  # the previous window's outputs for the first `overlap` frames
    for frame in frames:
        window.append(frame)
        if len(window) < context:
            continue
        outputs = _blend(carried, job.run(window))
        yield from outputs[:stride]
        carried = outputs[stride:]
        window = window[stride:]
    if len(window) > len(carried):  # frames no window has covered yet: one shorter, last window
        yield from _blend(carried, job.run(window))
    else:
        yield from carried


def _blend(previous: list[np.ndarray], current: list[np.ndarray]) -> list[np.ndarray]:
    """Cross-fade the overlap: the k-th shared frame takes (k + 1) / (overlap + 1) of the new window."""
    count = len(previous)
    out = list(current)
    for k, old in enumerate(previous):
        share = (k + 1) / (count + 1)
        out[k] = ((1.0 - share) * old + share * current[k]).astype(np.float32)
    return out


class VideoJob:
    """One diffusion-video job: the AnimateDiff pipeline and what the job's parameters set on it."""

    def __init__(self, shot: ShotContext, library: ModelLibrary, device: str) -> None:
        self.shot = shot
        self.p = shot.params
        self.device = device
        self.dtype = resolve_dtype(self.p["dtype"], device, shot.warn)
        source = library.resolve_model(self.p["model"])
        adapter = library.resolve_motion_adapter(self.p["motion_adapter"])
        base = load_base(source, self.dtype, device, library)
        if base._stylelock_family != "sd":
            raise EngineError(
                f"diffusion-video runs AnimateDiff, which needs an SD 1.x model; {str(source.path)!r} is "
                f"{base._stylelock_family}"
            )
        key = CacheKey("animatediff", str(source.path), str(self.dtype), device, (str(adapter),))
        self.pipe = PIPELINES.get(key, lambda: _build(base, adapter, self.dtype, device, key))
        self.pipe.scheduler = fresh_scheduler(base, self.p["scheduler"])
        longest = int(getattr(self.pipe.unet.config, "motion_max_seq_length", 0) or 0)
        if longest and int(self.p["context"]) > longest:
            raise SpecError(
                f"context {self.p['context']} is longer than the motion adapter's {longest} frames"
            )

        self.look = job_look(shot, library)
        ensure_ip_adapter(self.pipe, self.look.ip_adapter, self.dtype, device)
        self.look.set_scale(self.pipe, self.p)
        self.multiple = lat.size_multiple(self.pipe)

    def run(self, frames: list[ModelFrame]) -> list[np.ndarray]:
        """Restyle one window; out of memory, retry with VAE tiling once, then say it does not fit."""
        h, w = frames[0].height, frames[0].width
        for attempt in (lat.wants_tiling(self.p["vae_tiling"], h, w), True):
            lat.set_tiling(self.pipe.vae, attempt)
            try:
                return self._sample(frames)
            except Cancelled:
                raise
            except Exception as exc:
                reraise_unless_oom(exc, f"diffusion-video failed on frames {frames[0].number}-")
                free_memory(self.device)
                if attempt:
                    break
                self.shot.warn("out of device memory on a window; retrying with VAE tiling")
        raise EngineError(
            f"a window of {len(frames)} frames at {w}x{h} does not fit the memory of {self.device}; "
            "lower the context"
        )

    def _sample(self, frames: list[ModelFrame]) -> list[np.ndarray]:
        p = self.p
        steps, strength = int(p["steps"]), float(p["strength"])
        if int(steps * strength) < 1:  # no step would run: the plate comes back
            return [np.array(f.rgb, dtype=np.float32) for f in frames]
        h, w = frames[0].height, frames[0].width
        ph, pw = lat.pad_amount(h, w, self.multiple)
        rgb = np.stack([lat.pad(np.asarray(f.rgb, dtype=np.float32), ph, pw) for f in frames])
        clean = torch.cat([lat.encode(self.pipe, rgb[i : i + 8]) for i in range(0, len(frames), 8)])
        scheduler = self.pipe.scheduler
        scheduler.set_timesteps(steps, device=clean.device)
        start = max(steps - min(int(steps * strength), steps), 0)
        t_start = scheduler.timesteps[start * scheduler.order :][:1]
        numbers = [f.number for f in frames]
        noise = frame_noise(
            int(p["seed"]), numbers, bool(p["shared_noise"]), tuple(clean.shape[1:]), clean.dtype
        )
        noisy = scheduler.add_noise(clean, noise.to(clean.device), t_start.repeat(len(frames)))
        latents = noisy.permute(1, 0, 2, 3).unsqueeze(0)  # (1, c, frames, h, w)

        def on_step(pipe: Any, i: int, t: Any, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            if self.shot.is_cancelled():
                raise Cancelled
            return tensors

        kwargs: dict[str, Any] = {
            "latents": latents,
            "prompt": p["prompt"],
            "negative_prompt": p["negative_prompt"] or None,
            "height": h + ph,
            "width": w + pw,
            "num_inference_steps": steps,
            "strength": strength,
            "guidance_scale": float(p["guidance"]),
            "output_type": "np",
            "decode_chunk_size": 8,
            "callback_on_step_end": on_step,
        }
        if self.look.ip_image is not None:
            kwargs["ip_adapter_image"] = self.look.ip_image
        with torch.no_grad():
            result = self.pipe(**kwargs)
        video = np.asarray(result.frames[0], dtype=np.float32)
        out = [np.ascontiguousarray(image[:h, :w, :3]) for image in video]
        if self.look.colour is not None:
            out = [self.look.colour(image) for image in out]
        return out


def _build(base: Any, adapter_path: Any, dtype: torch.dtype, device: str, key: CacheKey) -> Any:
    import diffusers

    try:
        if adapter_path.is_file():
            adapter = diffusers.MotionAdapter.from_single_file(
                str(adapter_path), dtype=dtype, local_files_only=True
            )
        else:
            adapter = diffusers.MotionAdapter.from_pretrained(
                str(adapter_path), dtype=dtype, local_files_only=True
            )
        with quiet_diffusers():
            pipe = diffusers.AnimateDiffVideoToVideoPipeline.from_pipe(
                base, motion_adapter=adapter, dtype=dtype
            )
    except Exception as exc:
        if is_oom(exc):
            raise EngineError(f"motion adapter {str(adapter_path)!r} does not fit in memory") from None
        raise EngineError(f"motion adapter {str(adapter_path)!r} does not load: {exc}") from None
    pipe.set_progress_bar_config(disable=True)
    pipe._stylelock_family = base._stylelock_family
    pipe._stylelock_ip_adapter = None
    return move_to_device(pipe, device, f"motion adapter {str(adapter_path)!r}", key)
