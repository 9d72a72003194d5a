"""Tiny, seeded Stable-Diffusion-family components built from configs and saved to disk.

No weights can be downloaded on the machines the tests run on, so every loading path is exercised
with models these builders write: they have the real architectures (UNet, VAE, CLIP text and vision
encoders, ControlNet, IP-Adapter, AnimateDiff motion adapter) at a few thousand parameters, and are
saved in the layouts the real models ship in (diffusers folders, a single-file checkpoint in the
original Stable Diffusion key layout, an IP-Adapter folder with `image_encoder/`). Other test modules
import these builders; each one writes into the folder it is given and returns the path.

Random weights produce noise-like images; what the tests check is behaviour (loading, determinism,
cancellation, that each temporal layer changes what it should), never how a picture looks.
"""

from __future__ import annotations

from pathlib import Path

import torch

# A CLIP BPE vocabulary over single letters: enough for any lowercase prompt, no files needed.
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
TEXT_HIDDEN = 16
CROSS_DIM = 16
SDXL_POOLED = 24
SDXL_CROSS_DIM = TEXT_HIDDEN + SDXL_POOLED


def one_torch_thread():
    """Generator for a fixture: torch on one thread while it runs (tiny models on a shared 2-core
    machine run 100x slower with two threads spinning against other processes), then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tiny_tokenizer():
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2, ",": 3}
    for char in _LETTERS:
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _text_config(projection_dim: int | None = None, hidden: int = TEXT_HIDDEN):
    from transformers import CLIPTextConfig

    kwargs = {"projection_dim": projection_dim} if projection_dim else {}
    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_attention_heads=2,
        num_hidden_layers=2,
        vocab_size=64,
        max_position_embeddings=77,
        **kwargs,
    )


def tiny_vae():
    from diffusers import AutoencoderKL

    # Four levels, like the real SD VAE, so the latent is 1/8 of the image.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=64,
    )


def _unet_kwargs() -> dict:
    # SD 1.x order: attention at the high-resolution levels, the deepest up block without it.
    return {
        "block_out_channels": (16, 32),
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        "attention_head_dim": 2,
    }


def tiny_unet(cross_attention_dim: int = CROSS_DIM, **extra):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(cross_attention_dim=cross_attention_dim, **_unet_kwargs(), **extra)


def tiny_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def build_sd(folder: Path, **unet_extra) -> Path:
    """A tiny SD-1.x-style pipeline saved as a diffusers folder (`unet_extra`: more UNet config, such
    as the guidance embedding of an LCM-distilled model, `time_cond_proj_dim`)."""
    from diffusers import StableDiffusionImg2ImgPipeline
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    pipe = StableDiffusionImg2ImgPipeline(
        unet=tiny_unet(**unet_extra),
        vae=tiny_vae(),
        text_encoder=CLIPTextModel(_text_config()),
        tokenizer=tiny_tokenizer(),
        scheduler=tiny_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return Path(folder)


SD2_TEXT_HIDDEN = 1024
"""SD 2.x's OpenCLIP ViT-H text encoder is 1024 wide: the fact a diffusers folder's family is told by,
so the tiny SD-2-style model keeps that width (one layer, a narrow MLP: ~17 MB)."""


def build_sd2(folder: Path) -> Path:
    """A tiny SD-2.x-style pipeline (1024-wide text encoder, linear attention projections,
    v-prediction as in SD 2.x 768-v) saved as a diffusers folder."""
    from diffusers import StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(3)
    text = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=SD2_TEXT_HIDDEN,
        intermediate_size=32,
        num_attention_heads=2,
        num_hidden_layers=1,
        vocab_size=64,
        max_position_embeddings=77,
        hidden_act="gelu",
    )
    scheduler = tiny_scheduler()
    scheduler.register_to_config(prediction_type="v_prediction")
    pipe = StableDiffusionImg2ImgPipeline(
        unet=UNet2DConditionModel(
            cross_attention_dim=SD2_TEXT_HIDDEN, use_linear_projection=True, **_unet_kwargs()
        ),
        vae=tiny_vae(),
        text_encoder=CLIPTextModel(text),
        tokenizer=tiny_tokenizer(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return Path(folder)


def build_sdxl(folder: Path) -> Path:
    """A tiny SDXL-style pipeline (two text encoders, micro-conditioning) saved as a diffusers folder."""
    from diffusers import StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(1)
    time_dim = 8
    pooled = SDXL_POOLED  # the second text encoder is wider than the first, as in SDXL (768 / 1280)
    # SDXL order: the deepest up block carries attention, three layers per up block.
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=2,
        norm_num_groups=8,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * time_dim + pooled,
        cross_attention_dim=SDXL_CROSS_DIM,
    )
    pipe = StableDiffusionXLImg2ImgPipeline(
        unet=unet,
        vae=tiny_vae(),
        text_encoder=CLIPTextModel(_text_config()),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(projection_dim=pooled, hidden=pooled)),
        tokenizer=tiny_tokenizer(),
        tokenizer_2=tiny_tokenizer(),
        scheduler=tiny_scheduler(),
        requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )
    pipe.save_pretrained(folder)
    return Path(folder)


def build_controlnet(
    folder: Path, model_folder: Path, seed: int = 2, embedding: tuple[int, ...] = (16, 32, 96, 256)
) -> Path:
    """A tiny ControlNet matching the UNet saved in `model_folder`, as a diffusers folder.

    Its zero-initialised convolutions are re-seeded so the net actually steers the UNet and its
    residuals depend on the control image: the output convolutions (a fresh ControlNet adds exactly
    zero) and the last convolution of the conditioning embedding (left at zero, every control image
    would steer alike, which would hide a guide image that is ignored). `embedding` is the control
    image encoder's widths (diffusers' default is what every released ControlNet uses).
    """
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(Path(model_folder) / "unet", local_files_only=True)
    torch.manual_seed(seed)
    net = ControlNetModel.from_unet(
        unet, conditioning_channels=3, conditioning_embedding_out_channels=embedding
    )
    with torch.no_grad():
        for module in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
            module.weight.normal_(0.0, 0.5)
        net.controlnet_cond_embedding.conv_out.weight.normal_(0.0, 0.5)
    net.save_pretrained(folder)
    return Path(folder)


def build_ip_adapter(folder: Path, cross_attention_dim: int, unet_folder: Path) -> Path:
    """A tiny IP-Adapter folder: `image_encoder/` (CLIP vision with projection) + `ip-adapter.safetensors`.

    The adapter keys follow the layout diffusers' `load_ip_adapter` reads: `image_proj.proj/norm` and
    `ip_adapter.<n>.to_k_ip/to_v_ip` with n = 1, 3, 5... for each cross-attention layer in UNet order.
    """
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(3)
    embed = 16
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            image_size=32,
            patch_size=8,
            projection_dim=embed,
        )
    )
    folder = Path(folder)
    encoder.save_pretrained(folder / "image_encoder")

    unet = UNet2DConditionModel.from_pretrained(unet_folder, local_files_only=True)
    tensors = {
        "image_proj.proj.weight": torch.randn(4 * cross_attention_dim, embed) * 0.5,
        "image_proj.proj.bias": torch.zeros(4 * cross_attention_dim),
        "image_proj.norm.weight": torch.ones(cross_attention_dim),
        "image_proj.norm.bias": torch.zeros(cross_attention_dim),
    }
    key_id = 1
    for name, _processor in unet.attn_processors.items():
        if name.endswith("attn1.processor"):
            continue
        hidden = _hidden_size(unet, name)
        tensors[f"ip_adapter.{key_id}.to_k_ip.weight"] = torch.randn(hidden, cross_attention_dim) * 0.5
        tensors[f"ip_adapter.{key_id}.to_v_ip.weight"] = torch.randn(hidden, cross_attention_dim) * 0.5
        key_id += 2
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "ip-adapter.safetensors"))
    return folder


def _hidden_size(unet, name: str) -> int:
    channels = list(unet.config.block_out_channels)
    if name.startswith("mid_block"):
        return channels[-1]
    if name.startswith("up_blocks"):
        return list(reversed(channels))[int(name[len("up_blocks.")])]
    return channels[int(name[len("down_blocks.")])]


def build_motion_adapter(folder: Path) -> Path:
    """A tiny AnimateDiff motion adapter matching the tiny SD UNet, as a diffusers folder."""
    from diffusers import MotionAdapter

    torch.manual_seed(4)
    kwargs = _unet_kwargs()
    adapter = MotionAdapter(
        block_out_channels=kwargs["block_out_channels"],
        motion_layers_per_block=kwargs["layers_per_block"],
        motion_norm_num_groups=8,
        motion_num_attention_heads=8,  # as every released motion module
        motion_max_seq_length=32,
        use_motion_mid_block=False,
    )
    # Motion modules start as identity (zero output projection); seed them so they act.
    with torch.no_grad():
        for name, param in adapter.named_parameters():
            if "proj_out" in name:
                param.normal_(0.0, 0.2)
    adapter.save_pretrained(folder)
    return Path(folder)


# -- plates and shots for engine tests -----------------------------------------------------------------
def texture(height: int, width: int, seed: int = 0):
    """A smooth random colour texture (bicubic-upsampled noise) in [0, 1]."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    base = rng.random((height // 4 + 2, width // 4 + 2, 3)).astype(np.float32)
    return np.clip(cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def translating_plate(count: int = 4, height: int = 48, width: int = 64, dx: int = 8, first: int = 1001):
    """ModelFrames of a texture panning right by `dx` pixels a frame, with Nuke-style motion vectors."""
    import numpy as np

    from stylelock.server.engines.base import ModelFrame

    tex = texture(height, width + dx * count)
    frames = []
    for i in range(count):
        start = dx * (count - i)
        rgb = np.ascontiguousarray(tex[:, start : start + width])
        zeros = np.zeros((height, width), np.float32)
        aovs = {
            "forward.u": np.full((height, width), dx, np.float32),
            "forward.v": zeros,
            "backward.u": np.full((height, width), -dx, np.float32),
            "backward.v": zeros,
            "depth.Z": np.linspace(2.0, 10.0, height * width, dtype=np.float32).reshape(height, width) + i,
            "N.X": zeros + 0.3,
            "N.Y": zeros - 0.2,
            "N.Z": zeros + 0.9,
        }
        frames.append(ModelFrame(number=first + i, rgb=rgb, aovs=aovs))
    return frames


def count_calls(monkeypatch, cls) -> list[int]:
    """Count calls of `cls.forward` (for the rest of the test); the list grows by one per call."""
    calls: list[int] = []
    forward = cls.forward

    def counted(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(cls, "forward", counted)
    return calls


def make_shot(engine, frames, params, *, styles=(), guides=None, cancel_after=None):
    """A ShotContext for `frames` with params validated against `engine`'s schema.

    `cancel_after=n` makes `is_cancelled()` turn True from its n-th call on; the context's `calls`
    list counts the calls and `warnings` collects `warn()` messages.
    """
    from stylelock.core.errors import FramesMissingError
    from stylelock.core.params import validate_params
    from stylelock.server.engines.base import ShotContext

    by_number = {f.number: f for f in frames}
    calls: list[int] = []
    warnings: list[str] = []

    def is_cancelled() -> bool:
        calls.append(1)
        return cancel_after is not None and len(calls) >= cancel_after

    def load_frame(number: int):
        if number not in by_number:
            raise FramesMissingError(f"the test plate has no frame {number}")
        return by_number[number]

    shot = ShotContext(
        job_id="test",
        frames=tuple(by_number),
        styles=tuple(styles),
        params=validate_params(engine.name, engine.params, params),
        load_frame=load_frame,
        plate_frames=tuple(sorted(by_number)),
        guides=dict(guides or {}),
        is_cancelled=is_cancelled,
        warn=warnings.append,
    )
    shot.calls = calls  # type: ignore[attr-defined]
    shot.warnings = warnings  # type: ignore[attr-defined]
    return shot


# -- single-file checkpoints in the original Stable Diffusion layout -----------------------------------
_RESNET_TO_LDM = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
_VAE_ATTN_TO_LDM = (
    ("group_norm", "norm"),
    ("to_q", "q"),
    ("to_k", "k"),
    ("to_v", "v"),
    ("to_out.0", "proj_out"),
)


def _rename(rest: str, table) -> str:
    head, _, leaf = rest.rpartition(".")
    for new, old in table:
        if head == new or head.startswith(new + "."):
            return old + head[len(new) :] + "." + leaf
    return rest


def unet_to_ldm(state: dict, layers_per_block: int) -> dict:
    """A diffusers UNet2DConditionModel state dict in the CompVis `model.diffusion_model.` layout.

    The inverse of diffusers' `convert_ldm_unet_checkpoint` (diffusers ships no converter this way).
    """
    per = layers_per_block + 1
    direct = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
        "add_embedding.linear_1": "label_emb.0.0",
        "add_embedding.linear_2": "label_emb.0.2",
    }
    up_has_attention = {
        int(k.split(".")[1]) for k in state if k.startswith("up_blocks.") and ".attentions." in k
    }
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        module, leaf = key.rpartition(".")[0], parts[-1]
        if module in direct:
            new = f"{direct[module]}.{leaf}"
        elif parts[0] == "down_blocks":
            b, kind = int(parts[1]), parts[2]
            if kind == "downsamplers":
                new = f"input_blocks.{1 + b * per + layers_per_block}.0.op.{leaf}"
            else:
                idx, rest = 1 + b * per + int(parts[3]), ".".join(parts[4:])
                new = (
                    f"input_blocks.{idx}.0.{_rename(rest, _RESNET_TO_LDM)}"
                    if kind == "resnets"
                    else f"input_blocks.{idx}.1.{rest}"
                )
        elif parts[0] == "mid_block":
            idx, rest = int(parts[2]), ".".join(parts[3:])
            new = (
                f"middle_block.{2 * idx}.{_rename(rest, _RESNET_TO_LDM)}"
                if parts[1] == "resnets"
                else f"middle_block.1.{rest}"
            )
        elif parts[0] == "up_blocks":
            b, kind = int(parts[1]), parts[2]
            if kind == "upsamplers":
                slot = 2 if b in up_has_attention else 1
                new = f"output_blocks.{b * per + layers_per_block}.{slot}.conv.{leaf}"
            else:
                idx, rest = b * per + int(parts[3]), ".".join(parts[4:])
                new = (
                    f"output_blocks.{idx}.0.{_rename(rest, _RESNET_TO_LDM)}"
                    if kind == "resnets"
                    else f"output_blocks.{idx}.1.{rest}"
                )
        else:
            raise ValueError(f"no original-layout name for UNet key {key}")
        out["model.diffusion_model." + new] = value
    return out


def vae_to_ldm(state: dict, levels: int) -> dict:
    """A diffusers AutoencoderKL state dict in the `first_stage_model.` layout."""
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        coder = parts[0]
        if parts[0] in ("quant_conv", "post_quant_conv"):
            new = key
        elif parts[1] == "conv_norm_out":
            new = f"{coder}.norm_out.{parts[-1]}"
        elif parts[1] in ("conv_in", "conv_out"):
            new = key
        elif parts[1] in ("down_blocks", "up_blocks"):
            i = int(parts[2]) if parts[1] == "down_blocks" else levels - 1 - int(parts[2])
            name = "down" if parts[1] == "down_blocks" else "up"
            if parts[3] in ("downsamplers", "upsamplers"):
                sampler = "downsample" if name == "down" else "upsample"
                new = f"{coder}.{name}.{i}.{sampler}.conv.{parts[-1]}"
            else:
                rest = ".".join(parts[5:]).replace("conv_shortcut", "nin_shortcut")
                new = f"{coder}.{name}.{i}.block.{parts[4]}.{rest}"
        elif parts[1] == "mid_block" and parts[2] == "resnets":
            rest = ".".join(parts[4:]).replace("conv_shortcut", "nin_shortcut")
            new = f"{coder}.mid.block_{int(parts[3]) + 1}.{rest}"
        elif parts[1] == "mid_block":
            new = f"{coder}.mid.attn_1.{_rename('.'.join(parts[4:]), _VAE_ATTN_TO_LDM)}"
        else:
            raise ValueError(f"no original-layout name for VAE key {key}")
        out["first_stage_model." + new] = value
    return out


def build_sd_single_file(model_folder: Path, target: Path) -> Path:
    """The tiny SD pipeline in `model_folder` as one `.safetensors` in the original SD 1.x key layout."""
    state = _ldm_unet_vae(model_folder)
    state.update(_ldm_clip(model_folder, "cond_stage_model.transformer."))
    return _save_state(state, target)


def _ldm_unet_vae(model_folder: Path) -> dict:
    """The UNet and VAE of a tiny diffusers pipeline folder, in the original checkpoint layout."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    folder = Path(model_folder)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet", local_files_only=True)
    vae = AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True)
    state = unet_to_ldm(unet.state_dict(), unet.config.layers_per_block)
    state.update(vae_to_ldm(vae.state_dict(), len(vae.config.block_out_channels)))
    return state


def _ldm_clip(model_folder: Path, prefix: str) -> dict:
    """The folder's first CLIP text encoder under ``prefix``. Original checkpoints name the text
    model `text_model.*` (transformers 5 drops the prefix)."""
    from transformers import CLIPTextModel

    text = CLIPTextModel.from_pretrained(Path(model_folder) / "text_encoder", local_files_only=True)
    out = {}
    for key, value in text.state_dict().items():
        name = key if key.startswith("text_model.") else "text_model." + key
        out[prefix + name] = value
    return out


def _save_state(state: dict, target: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(target))
    return Path(target)


def open_clip_from_clip(state: dict) -> dict:
    """A transformers CLIPTextModelWithProjection state dict in the OpenCLIP layout SDXL files use."""
    out: dict = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        name = key if key.startswith(("text_model.", "text_projection")) else "text_model." + key
        if name == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
            continue
        name = name.replace("text_model.embeddings.token_embedding.weight", "token_embedding.weight")
        name = name.replace("text_model.embeddings.position_embedding.weight", "positional_embedding")
        name = name.replace("text_model.final_layer_norm.", "ln_final.")
        if name.startswith("text_model.encoder.layers."):
            name = "transformer.resblocks." + name[len("text_model.encoder.layers.") :]
            for new, old in (
                ("layer_norm1", "ln_1"),
                ("layer_norm2", "ln_2"),
                (".fc1.", ".c_fc."),
                (".fc2.", ".c_proj."),
            ):
                name = name.replace(new, old)
            name = name.replace(".self_attn.", ".attn.")
            for part in ("q_proj", "k_proj", "v_proj"):
                if f".attn.{part}." in name:
                    block, leaf = name.split(f".{part}.")
                    qkv.setdefault((block, leaf), {})[part] = value
                    break
            else:
                out[name] = value
            continue
        out[name] = value
    for (block, leaf), parts in qkv.items():
        out[f"{block}.in_proj_{leaf}"] = torch.cat([parts["q_proj"], parts["k_proj"], parts["v_proj"]])
    return out


def build_controlnet_single_file(folder: Path, target: Path, layout: str = "original") -> Path:
    """The ControlNet folder `folder` as one `.safetensors`: in the `original` layout (`control_model.`
    keys: `input_hint_block`, `zero_convs`, `middle_block_out`, as lllyasviel's releases) or in the
    `diffusers` key layout (a bare state dict, as many SDXL ControlNets ship)."""
    from diffusers import ControlNetModel

    net = ControlNetModel.from_pretrained(Path(folder), local_files_only=True)
    state = net.state_dict()
    if layout == "diffusers":
        return _save_state(state, target)
    own = {k: v for k, v in state.items() if k.startswith("controlnet_")}
    shared = {k: v for k, v in state.items() if k not in own}
    out = {
        k.replace("model.diffusion_model.", "control_model.", 1): v
        for k, v in unet_to_ldm(shared, net.config.layers_per_block).items()
    }
    blocks = sum(
        1 for k in own if k.startswith("controlnet_cond_embedding.blocks.") and k.endswith(".weight")
    )
    for key, value in own.items():
        module, leaf = key.rsplit(".", 1)
        parts = module.split(".")
        if module == "controlnet_cond_embedding.conv_in":
            new = "input_hint_block.0"
        elif module == "controlnet_cond_embedding.conv_out":
            new = f"input_hint_block.{2 * (blocks + 1)}"
        elif parts[:2] == ["controlnet_cond_embedding", "blocks"]:
            new = f"input_hint_block.{2 * (int(parts[2]) + 1)}"
        elif parts[0] == "controlnet_down_blocks":
            new = f"zero_convs.{parts[1]}.0"
        elif module == "controlnet_mid_block":
            new = "middle_block_out.0"
        else:
            raise ValueError(f"no original-layout name for ControlNet key {key}")
        out[f"control_model.{new}.{leaf}"] = value
    return _save_state(out, target)


def build_motion_adapter_single_file(folder: Path, target: Path) -> Path:
    """The motion adapter folder `folder` as one `.safetensors` in AnimateDiff's original layout
    (`temporal_transformer`, `attention_blocks`, `norms`, `pos_encoder.pe`), as `mm_sd_v15_v2` ships."""
    from diffusers import MotionAdapter

    out = {}
    for key, value in MotionAdapter.from_pretrained(Path(folder), local_files_only=True).state_dict().items():
        head, sep, rest = key.partition(".motion_modules.")
        index, _, rest = rest.partition(".")
        if rest.endswith("pos_embed.pe"):  # one per transformer block; the original keeps one per attention
            block = f"{head}{sep}{index}.temporal_transformer.{rest[: -len('pos_embed.pe')]}"
            out[block + "attention_blocks.0.pos_encoder.pe"] = value
            out[block + "attention_blocks.1.pos_encoder.pe"] = value.clone()
            continue
        for new, old in (
            (".norm1", ".norms.0"),
            (".norm2", ".norms.1"),
            (".norm3", ".ff_norm"),
            (".attn1", ".attention_blocks.0"),
            (".attn2", ".attention_blocks.1"),
        ):
            rest = ("." + rest).replace(new, old)[1:]
        out[f"{head}{sep}{index}.temporal_transformer.{rest}"] = value
    return _save_state(out, target)


def build_sd2_single_file(model_folder: Path, target: Path) -> Path:
    """The tiny SD 2.x pipeline in `model_folder` as one `.safetensors` in the original SD 2.x
    layout: the text encoder in OpenCLIP's (`cond_stage_model.model.`, fused q/k/v)."""
    from transformers import CLIPTextModel

    text = CLIPTextModel.from_pretrained(Path(model_folder) / "text_encoder", local_files_only=True)
    state = _ldm_unet_vae(model_folder)
    for key, value in open_clip_from_clip(text.state_dict()).items():
        state["cond_stage_model.model." + key] = value
    return _save_state(state, target)


def build_sdxl_single_file(model_folder: Path, target: Path) -> Path:
    """The tiny SDXL pipeline in `model_folder` as one `.safetensors` in the original SDXL key layout."""
    from transformers import CLIPTextModelWithProjection

    folder = Path(model_folder)
    text_2 = CLIPTextModelWithProjection.from_pretrained(folder / "text_encoder_2", local_files_only=True)
    state = _ldm_unet_vae(folder)
    state.update(_ldm_clip(folder, "conditioner.embedders.0.transformer."))
    for key, value in open_clip_from_clip(text_2.state_dict()).items():
        state["conditioner.embedders.1.model." + key] = value
    return _save_state(state, target)
