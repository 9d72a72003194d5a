"""The job's prompt and style image, encoded once per job.

Handed `prompt=` and `ip_adapter_image=`, a diffusers pipeline runs its text encoder(s) (twice with
classifier-free guidance: prompt and negative prompt) and the IP-Adapter's CLIP image encoder on
every call, that is on every batch of frames or every video window, for the same prompt and the same
image. `encode_conditioning` runs them once; `Conditioning.kwargs(n)` hands the pipeline the tensors
it would have built for n frames (`prompt_embeds` and friends, `ip_adapter_image_embeds`).

A side effect worth having: the prompt is encoded for one frame whatever the batch, so its rounding
no longer depends on how many frames share a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Conditioning:
    """The encoded prompt (tensors of batch 1, by pipeline keyword) and IP-Adapter image embeddings."""

    text: Mapping[str, torch.Tensor]
    image: list[torch.Tensor] | None
    """As `prepare_ip_adapter_image_embeds` returns them for one image ([negative; positive] rows
    under classifier-free guidance), or None when no IP-Adapter acts."""

    def kwargs(self, batch: int) -> dict[str, Any]:
        """Pipeline keywords for a call on `batch` frames (or one video, `batch` = 1)."""
        out: dict[str, Any] = {
            name: tensor.repeat(batch, *([1] * (tensor.ndim - 1))) for name, tensor in self.text.items()
        }
        if self.image is not None:
            out["ip_adapter_image_embeds"] = self.image
        return out


def uses_guidance(pipe: Any, guidance: float) -> bool:
    """Whether `pipe` will run classifier-free guidance at `guidance`, by its own rule (which differs
    between pipelines: plain img2img also needs a UNet without a guidance embedding, the ControlNet
    and AnimateDiff pipelines look at the scale alone). The pipeline sets the scale it reads when
    called; setting it here first is what that call will do."""
    pipe._guidance_scale = guidance
    return bool(pipe.do_classifier_free_guidance)


def encode_conditioning(pipe: Any, params: Mapping[str, Any], ip_image: Any) -> Conditioning:
    """Encode the job's prompt, negative prompt and IP-Adapter image with `pipe`'s own encoders."""
    guided = uses_guidance(pipe, float(params["guidance"]))
    negative = params["negative_prompt"] or None
    device = pipe._execution_device
    with torch.no_grad():
        if "text_encoder_2" in pipe.components:  # SDXL: two text encoders and a pooled embedding
            embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
                prompt=params["prompt"],
                device=device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=guided,
                negative_prompt=negative,
            )
            text = {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
            if guided:
                text |= {"negative_prompt_embeds": negative_embeds}
                text |= {"negative_pooled_prompt_embeds": negative_pooled}
        else:
            embeds, negative_embeds = pipe.encode_prompt(params["prompt"], device, 1, guided, negative)
            text = {"prompt_embeds": embeds}
            if guided:
                text["negative_prompt_embeds"] = negative_embeds
        image = None
        if ip_image is not None:
            image = pipe.prepare_ip_adapter_image_embeds(ip_image, None, device, 1, guided)
    return Conditioning(text, image)
