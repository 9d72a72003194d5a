"""`diffusion-video`: AnimateDiff video-to-video over overlapping windows with cross-faded seams.

Imported at run time only. The motion model sees `context` frames at once; a longer shot is cut into
windows that start every `context - overlap` frames on a grid of absolute frame numbers counted from
`segment_origin`, and the frames two windows share are cross-faded linearly in pixel space (frame F
of a window starting at S takes (F - S + 1) / (overlap + 1) of it, over what the earlier windows
made), so no seam shows as a jump. Which windows run depends only on the grid and the frames the
plate has (`WindowGrid`), never on where the job starts: a chunk restyles every window that covers
its frames, reading the frames it lacks with `shot.load_frame`, and matches the unchunked run bit for
bit. As in `diffusion-image`, the frames are encoded here and the noise of frame F comes from its own
CPU generator seeded by (seed, F); without a style reference the colour lock aims at each window's
first frame. Frames stream: about one window is held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from stylelock.server.engines.diffusion.prompts import encode_conditioning
from stylelock.server.engines.diffusion.run import RUN_LOCK, begin
from stylelock.server.engines.diffusion.segments import Reads
from stylelock.server.engines.diffusion.single_file import config_folder, motion_adapter_config
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
            yield from _windows(job, shot, chain([first], frames))
        except Cancelled:
            return


def _windows(job: VideoJob, shot: ShotContext, frames: Iterator[ModelFrame]) -> Iterator[np.ndarray]:
    """Windows on a grid of absolute frame numbers; each wanted frame is the fold of the windows
    that cover it (see the module docstring), so a chunk matches the unchunked run."""
    grid = WindowGrid(
        int(shot.params["context"]), int(shot.params["overlap"]), int(shot.params["segment_origin"])
    )
    plate = _Plate(shot, frames)
    done: dict[int, dict[int, np.ndarray]] = {}  # window index -> frame number -> its output

    def output(k: int) -> dict[int, np.ndarray]:
        if k not in done:
            window = [f for f in (plate.get(n) for n in grid.numbers(k)) if f is not None]
            if job.look.colour is not None:
                job.look.colour.reset()  # without a reference, each window aims at its first frame
            done[k] = {f.number: out for f, out in zip(window, job.run(window), strict=True)}
        return done[k]

    for number in shot.frames:
        if shot.is_cancelled() or plate.pull(number) is None:
            return
        styled: np.ndarray | None = None
        for k in grid.running(number, plate.has):
            image = output(k)[number]
            if styled is None:
                styled = image
            else:
                share = (number - grid.start(k) + 1) / (grid.overlap + 1)
                styled = ((1.0 - share) * styled + share * image).astype(np.float32)
        yield styled
        first = min(grid.covering(number + 1))
        done = {k: v for k, v in done.items() if k >= first}
        plate.forget_before(grid.start(first))
    if plate.reads.frames:
        shot.log.info("diffusion-video: %d plate frame(s) read to complete windows", plate.reads.frames)


class WindowGrid:
    """Windows of `context` frames starting every `context - overlap` frames from `origin`.

    Window k runs when the plate has a frame in its own part [start, start + stride) and either the
    window before has none there (it is the first) or it has a frame the window before does not
    cover; a window also runs when a frame of its own part would otherwise be covered by none.
    """

    def __init__(self, context: int, overlap: int, origin: int) -> None:
        self.context, self.overlap, self.origin = context, overlap, origin
        self.stride = context - overlap
        self._runs: dict[int, bool] = {}

    def start(self, k: int) -> int:
        return self.origin + k * self.stride

    def numbers(self, k: int) -> range:
        return range(self.start(k), self.start(k) + self.context)

    def covering(self, number: int) -> range:
        """Indices of the windows whose frames include `number`, in order."""
        offset = number - self.origin
        return range(-(-(offset - self.context + 1) // self.stride), offset // self.stride + 1)

    def running(self, number: int, has: Callable[[int], bool]) -> list[int]:
        return [k for k in self.covering(number) if self._window_runs(k, has)]

    def _owns(self, k: int, has: Callable[[int], bool]) -> bool:
        return any(has(n) for n in range(self.start(k), self.start(k) + self.stride))

    def _rule(self, k: int, has: Callable[[int], bool]) -> bool:
        if not self._owns(k, has):
            return False
        past = range(self.start(k) + self.overlap, self.start(k) + self.context)
        return any(has(n) for n in past) or not self._owns(k - 1, has)

    def _window_runs(self, k: int, has: Callable[[int], bool]) -> bool:
        if k not in self._runs:
            runs = self._rule(k, has)
            if not runs and self._owns(k, has):
                own = range(self.start(k), self.start(k) + self.stride)
                runs = any(
                    has(n) and not any(self._rule(j, has) for j in self.covering(n) if j != k) for n in own
                )
            self._runs[k] = runs
        return self._runs[k]


class _Plate:
    """The job's frames as they stream in, and any other plate frame read from disk when a window
    needs it; remembers which frames the plate lacks."""

    def __init__(self, shot: ShotContext, frames: Iterator[ModelFrame]) -> None:
        self.stream = frames
        self.wanted = set(shot.frames)
        self.reads = Reads(shot)
        self.store: dict[int, ModelFrame | None] = {}

    def pull(self, number: int) -> ModelFrame | None:
        """Job frame `number` from the stream (reading on to it); None when the stream ended first."""
        if self.store.get(number) is not None:
            return self.store[number]
        for frame in self.stream:
            self.store[frame.number] = frame
            if frame.number == number:
                return frame
        return None

    def get(self, number: int) -> ModelFrame | None:
        if number in self.store:
            return self.store[number]
        frame = self.pull(number) if number in self.wanted else None
        if frame is None:
            frame = self.reads(number)
        self.store[number] = frame
        return frame

    def has(self, number: int) -> bool:
        return self.get(number) is not None

    def forget_before(self, number: int) -> None:
        self.store = {n: f for n, f in self.store.items() if n >= number}


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
        self.conditioning = encode_conditioning(self.pipe, self.p, self.look.ip_image)
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
            **self.conditioning.kwargs(1),  # one video of len(frames) frames
            "latents": latents,
            "height": h + ph,
            "width": w + pw,
            "num_inference_steps": steps,
            "strength": strength,
            "guidance_scale": float(p["guidance"]),
            "output_type": "np",
            "decode_chunk_size": 8,
            "callback_on_step_end": on_step,
        }
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

            def derive() -> dict[str, Any]:
                return motion_adapter_config(adapter_path, base.unet.config)

            with config_folder(adapter_path, "MotionAdapter", derive) as (config, _):
                adapter = diffusers.MotionAdapter.from_single_file(
                    str(adapter_path), config=str(config), dtype=dtype, local_files_only=True
                )
        else:
            adapter = diffusers.MotionAdapter.from_pretrained(
                str(adapter_path), dtype=dtype, local_files_only=True
            )
        # The motion UNet takes over the image UNet's IP-Adapter layers and image encoder, which
        # this pipeline would then not know it has: build it from a base without one.
        ensure_ip_adapter(base, None, dtype, device)
        with quiet_diffusers():
            pipe = diffusers.AnimateDiffVideoToVideoPipeline.from_pipe(
                base, motion_adapter=adapter, dtype=dtype
            )
    except EngineError:
        raise
    except Exception as exc:
        if is_oom(exc):
            raise EngineError(f"motion adapter {str(adapter_path)!r} does not fit in memory") from None
        raise EngineError(f"motion adapter {str(adapter_path)!r} does not load: {exc}") from None
    pipe.set_progress_bar_config(disable=True)
    pipe._stylelock_family = base._stylelock_family
    pipe._stylelock_ip_adapter = None
    return move_to_device(pipe, device, f"motion adapter {str(adapter_path)!r}", key)
