"""`builtin://tiny-sdxl`: a deterministic, randomly initialised SDXL-*architecture* pipeline.

It exists so CPU development, the demo and CI exercise the exact code paths of a real SDXL build
(two text encoders, the second with a projection; a UNet with ``text_time`` conditioning and
three resolution levels; a 4-level VAE that keeps the x8 scale; CLIP byte-level tokenizers) without
downloading gigabytes. Every weight comes from ``torch.manual_seed`` so two builds on any machine give
bit-identical components, and the whole pipeline runs in well under a second at 64-256 px.

The sizes follow the SDXL wiring rules (see FACTS.md): the UNet's ``cross_attention_dim`` is the sum
of both encoders' hidden sizes, and ``projection_class_embeddings_input_dim`` is
``6 * addition_time_embed_dim + text_encoder_2.projection_dim``.

``builtin://tiny-sdxl-inpaint`` is the matching inpainting UNet (same config, 9 input channels:
latent + mask + masked-image latent, like diffusers/stable-diffusion-xl-1.0-inpainting-0.1), so it
pairs with tiny-sdxl's text encoders and VAE exactly as the real checkpoint pairs with SDXL base.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

#: Bump when any config below changes, so cached copies are rebuilt.
TINY_VERSION = 1
SEED = 0
TEXT1_HIDDEN = 32
TEXT2_HIDDEN = 64
TEXT2_PROJECTION = 32
TIME_EMBED_DIM = 8
MAX_TOKENS = 77
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _byte_alphabet() -> list[str]:
    """CLIP's printable stand-ins for the 256 byte values (same table as GPT-2's ``bytes_to_unicode``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def tokenizer_vocab() -> dict[str, int]:
    """Every byte alone and as a word end (``</w>``), then BOS/EOS: any text tokenizes, no merges needed."""
    alphabet = _byte_alphabet()
    tokens = alphabet + [f"{char}</w>" for char in alphabet] + [BOS, EOS]
    return {token: index for index, token in enumerate(tokens)}


def write_tokenizer(directory: Path) -> None:
    """Write a CLIP tokenizer that ``CLIPTokenizer.from_pretrained(directory)`` loads offline.

    transformers 5 ignores ``CLIPTokenizer(vocab_file=...)``; ``from_pretrained`` on a directory with
    vocab.json + merges.txt + tokenizer_config.json is the path that reads the files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(tokenizer_vocab(), ensure_ascii=False))
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_TOKENS,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
        "do_lower_case": True,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def text_encoder_config(hidden: int, projection: int) -> dict[str, Any]:
    vocab = len(tokenizer_vocab())
    return {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "max_position_embeddings": MAX_TOKENS,
        "projection_dim": projection,
        "hidden_act": "gelu",
        "bos_token_id": vocab - 2,
        "eos_token_id": vocab - 1,
        "pad_token_id": vocab - 1,
    }


def unet_config() -> dict[str, Any]:
    """Three levels (up-factor 4) like SDXL's DownBlock -> CrossAttn -> CrossAttn, at toy widths."""
    return {
        "sample_size": 32,
        "in_channels": 4,
        "out_channels": 4,
        "layers_per_block": 1,
        "block_out_channels": (32, 64, 64),
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        "attention_head_dim": (2, 4, 4),
        "transformer_layers_per_block": (1, 1, 2),
        "use_linear_projection": True,
        "cross_attention_dim": TEXT1_HIDDEN + TEXT2_HIDDEN,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": TIME_EMBED_DIM,
        "projection_class_embeddings_input_dim": 6 * TIME_EMBED_DIM + TEXT2_PROJECTION,
        "norm_num_groups": 32,
    }


def inpaint_unet_config() -> dict[str, Any]:
    """The tiny UNet with SDXL inpainting's 9 input channels (4 latent + 1 mask + 4 masked latent)."""
    return {**unet_config(), "in_channels": 9}


def build_tiny_inpaint_unet() -> Any:
    """The tiny inpainting UNet (``UNet2DConditionModel``), identical on every call."""
    import diffusers
    import torch

    torch.manual_seed(SEED + 4)
    models: Any = diffusers  # diffusers is untyped
    return models.UNet2DConditionModel(**inpaint_unet_config()).eval()


def materialize_inpaint(directory: Path) -> Path:
    """A directory whose ``unet/`` is the tiny inpainting UNet (reused when complete, like :func:`materialize`)."""
    target = directory / f"tiny-sdxl-inpaint-v{TINY_VERSION}"
    if (target / "unet" / "config.json").exists():
        return target
    staging = directory / f".tiny-sdxl-inpaint-v{TINY_VERSION}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    build_tiny_inpaint_unet().save_pretrained(staging / "unet", safe_serialization=True)
    try:
        os.replace(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def vae_config() -> dict[str, Any]:
    """Four levels: three down-samplings keep SDXL's x8 pixel-to-latent scale."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "block_out_channels": (32, 32, 64, 64),
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "layers_per_block": 1,
        "norm_num_groups": 32,
        "sample_size": 256,
        "scaling_factor": 0.13025,
        "force_upcast": False,
    }


def scheduler_config() -> dict[str, Any]:
    """SDXL base's scheduler configuration (Euler, scaled-linear betas, leading spacing)."""
    return {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "prediction_type": "epsilon",
        "interpolation_type": "linear",
        "use_karras_sigmas": False,
    }


def build_tiny_pipeline() -> Any:
    """The tiny pipeline in memory (a ``StableDiffusionXLPipeline``), identical on every call."""
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(SEED)
    text_encoder: Any = CLIPTextModel(CLIPTextConfig(**text_encoder_config(TEXT1_HIDDEN, TEXT1_HIDDEN)))
    torch.manual_seed(SEED + 1)
    text_encoder_2: Any = CLIPTextModelWithProjection(
        CLIPTextConfig(**text_encoder_config(TEXT2_HIDDEN, TEXT2_PROJECTION))
    )
    torch.manual_seed(SEED + 2)
    models: Any = diffusers  # diffusers is untyped
    unet = models.UNet2DConditionModel(**unet_config())
    torch.manual_seed(SEED + 3)
    vae = models.AutoencoderKL(**vae_config())
    scheduler = models.EulerDiscreteScheduler(**scheduler_config())
    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp)
    pipe = models.StableDiffusionXLPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet.eval(),
        scheduler=scheduler,
        add_watermarker=False,
    )
    return pipe


def materialize(directory: Path) -> Path:
    """Save the tiny pipeline as a diffusers directory (idempotent: reuse a complete copy).

    The directory is written next to its final place and renamed, so a killed writer never leaves a
    half-saved copy that a later build would trust.
    """
    target = directory / f"tiny-sdxl-v{TINY_VERSION}"
    if (target / "model_index.json").exists():
        return target
    staging = directory / f".tiny-sdxl-v{TINY_VERSION}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    pipe = build_tiny_pipeline()
    pipe.save_pretrained(staging, safe_serialization=True)
    for name in ("tokenizer", "tokenizer_2"):
        write_tokenizer(staging / name)
    try:
        os.replace(staging, target)
    except OSError:  # another process published the same copy first
        shutil.rmtree(staging, ignore_errors=True)
    return target
