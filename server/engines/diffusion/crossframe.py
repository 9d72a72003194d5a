"""Cross-frame attention: each frame's self-attention also attends to an anchor frame and its predecessor.

Self-attention decides what a frame's texture looks like; letting every frame read its keys and values
from the same anchor frame (the first restyled frame of the shot) and from the previous frame makes
them paint with the same strokes. Only the UNet's up blocks are changed (the down blocks keep each
frame's own layout), as in Text2Video-Zero and Rerender-A-Video.

A frame's attention context is [anchor, previous]. For the anchor frame itself both are the frame, which
is plain self-attention: the first frame comes out exactly as without this layer. Frames are batched,
so the previous frame of batch element j is element j-1, and of element 0 the last frame of the
previous batch, whose hidden states are kept per layer and step (the anchor's too). The processor
has the call signature of diffusers' attention processors and is installed for one job only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

_Key = tuple[str, int]


class CrossFrameState:
    """What the processors of one job share: the step counter and the kept hidden states."""

    def __init__(self) -> None:
        self.step = 0
        self.frames = 1
        self.anchor: dict[_Key, torch.Tensor] = {}
        self.prev: dict[_Key, torch.Tensor] = {}
        self._pending: dict[_Key, torch.Tensor] = {}
        self._new_anchor: list[_Key] = []

    def begin_call(self, frames: int) -> None:
        """Before each pipeline call: `frames` frames, in order, in the batch."""
        self.step = 0
        self.frames = frames
        self._pending = {}
        self._new_anchor = []

    def end_call(self) -> None:
        """After a call succeeded: its last frame becomes the previous frame of the next call."""
        self.prev = self._pending
        self._pending = {}
        self._new_anchor = []

    def reset(self) -> None:
        """Start a new chain: the next call's first frame becomes the anchor and has no predecessor."""
        self.anchor = {}
        self.prev = {}
        self._pending = {}
        self._new_anchor = []

    def abort_call(self) -> None:
        """After a failed call (out of memory, cancelled): forget what it recorded."""
        for key in self._new_anchor:
            self.anchor.pop(key, None)
        self._pending = {}
        self._new_anchor = []


class CrossFrameAttnProcessor:
    """Self-attention with keys and values from [anchor frame, previous frame]."""

    def __init__(self, state: CrossFrameState, name: str) -> None:
        self.state = state
        self.name = name

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        batch, length, dim = hidden_states.shape
        frames = self.state.frames
        if encoder_hidden_states is not None or attention_mask is not None or batch % frames:
            context = encoder_hidden_states if encoder_hidden_states is not None else hidden_states
            out = _attend(
                attn, attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context), attention_mask
            )
        else:
            out = self._cross_frame(attn, hidden_states, batch // frames, frames, length, dim)

        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(residual.shape)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def _cross_frame(
        self, attn: Any, hidden: torch.Tensor, copies: int, frames: int, length: int, dim: int
    ) -> torch.Tensor:
        state = self.state
        key = (self.name, state.step)
        per_frame = hidden.view(copies, frames, length, dim)
        anchor = state.anchor.get(key)
        if anchor is None or anchor.shape != per_frame[:, 0].shape:
            anchor = per_frame[:, 0].detach().clone()
            state.anchor[key] = anchor
            state._new_anchor.append(key)
        previous = state.prev.get(key)
        if previous is None or previous.shape != anchor.shape:
            previous = per_frame[:, 0]
        state._pending[key] = per_frame[:, -1].detach().clone()

        # Keys/values are linear per token: project the batch once and shift it by one frame.
        k_all, v_all = attn.to_k(per_frame), attn.to_v(per_frame)
        k_prev_first, v_prev_first = attn.to_k(previous).unsqueeze(1), attn.to_v(previous).unsqueeze(1)
        k_prev = torch.cat([k_prev_first, k_all[:, :-1]], dim=1)
        v_prev = torch.cat([v_prev_first, v_all[:, :-1]], dim=1)
        k_anchor = attn.to_k(anchor).unsqueeze(1).expand_as(k_prev)
        v_anchor = attn.to_v(anchor).unsqueeze(1).expand_as(v_prev)
        keys = torch.cat([k_anchor, k_prev], dim=2).reshape(copies * frames, 2 * length, -1)
        values = torch.cat([v_anchor, v_prev], dim=2).reshape(copies * frames, 2 * length, -1)
        return _attend(attn, attn.to_q(hidden), keys, values, None)


def _attend(
    attn: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    batch = query.shape[0]
    head_dim = key.shape[-1] // attn.heads
    q = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
    k = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
    v = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
    if attn.norm_q is not None:
        q = attn.norm_q(q)
    if attn.norm_k is not None:
        k = attn.norm_k(k)
    if mask is not None:
        mask = attn.prepare_attention_mask(mask, k.shape[2], batch).view(
            batch, attn.heads, -1, mask.shape[-1]
        )
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)
    return out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)


def up_block_self_attention(unet: Any) -> list[str]:
    """Names of the self-attention processors in the UNet's up blocks."""
    return [n for n in unet.attn_processors if n.startswith("up_blocks.") and n.endswith("attn1.processor")]


@contextmanager
def cross_frame_attention(unet: Any, state: CrossFrameState) -> Iterator[int]:
    """Install the processors for the duration of a job; yields how many layers were changed."""
    original = dict(unet.attn_processors)
    names = up_block_self_attention(unet)
    processors = dict(original)
    for name in names:
        processors[name] = CrossFrameAttnProcessor(state, name)
    unet.set_attn_processor(processors)
    try:
        yield len(names)
    finally:
        unet.set_attn_processor(original)
