"""`builtin://sdxl-architecture`: SDXL base's exact architecture with seeded random weights.

For tests and benchmarks of the real-size build (export with external data, Triton configs at
77x2048 embeddings and 128x128 latents, the build Job's memory) without downloading a checkpoint.
The component configurations are SDXL base 1.0's published ones (text encoder CLIP ViT-L/14, text
encoder 2 OpenCLIP bigG/14 with projection, UNet-XL, VAE), so parameter counts and tensor shapes are
the real ones; the weights are noise, so are its images. Every output says so
(:data:`NOTICE` in ``model_index.json``, the configs and the build manifest): nobody should mistake it
for a checkpoint. ``builtin://sdxl-architecture-inpaint`` is the same UNet with SDXL inpainting's 9
input channels.

The weights are written one tensor at a time into 1 GiB safetensors shards with the index files
diffusers and transformers read, so materialising the 2.6 B-parameter UNet holds one shard in memory,
not the model: the model is instantiated on the ``meta`` device only to list its tensors. Values
follow torch's default initialisation in spirit (uniform +-1/sqrt(fan_in) for matrices and
convolutions, ones for norm scales, zeros for biases) so activations stay finite through 70
transformer blocks; each tensor's generator is seeded from its name, so two machines write the
same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine_builder.tiny import BOS, EOS, _byte_alphabet, scheduler_config

NAMES = ("sdxl-architecture", "sdxl-architecture-inpaint")
NOTICE = ("builtin://sdxl-architecture: SDXL base 1.0's published architecture with seeded RANDOM weights, "
          "for tests and benchmarks. Not a checkpoint: its images are noise.")
#: Bump when a config, the tokenizer layout or the initialisation changes, so cached copies are rewritten.
VERSION = 1
SEED = 0
#: Parameters per component of the published SDXL base 1.0 (and the inpainting UNet); a unit test
#: instantiates the configs below on the meta device and compares.
PUBLISHED_PARAMETERS = {"text_encoder": 123_060_480, "text_encoder_2": 694_659_840, "unet": 2_567_463_684,
                        "vae": 83_653_863, "inpaint_unet": 2_567_478_084}
VOCAB_SIZE = 49_408
MAX_TOKENS = 77
SHARD_BYTES = 1 << 30


def text_encoder_config() -> dict[str, Any]:
    """CLIP ViT-L/14's text tower (SDXL's ``text_encoder``)."""
    return {"architectures": ["CLIPTextModel"], "vocab_size": VOCAB_SIZE, "hidden_size": 768,
            "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
            "max_position_embeddings": MAX_TOKENS, "hidden_act": "quick_gelu", "projection_dim": 768,
            "layer_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
            "torch_dtype": "float16"}


def text_encoder_2_config() -> dict[str, Any]:
    """OpenCLIP bigG/14's text tower with its projection (SDXL's ``text_encoder_2``)."""
    return {"architectures": ["CLIPTextModelWithProjection"], "vocab_size": VOCAB_SIZE, "hidden_size": 1280,
            "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 20,
            "max_position_embeddings": MAX_TOKENS, "hidden_act": "gelu", "projection_dim": 1280,
            "layer_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
            "torch_dtype": "float16"}


def unet_config(in_channels: int = 4) -> dict[str, Any]:
    """UNet-XL: three levels, 1/2/10 transformer layers, ``text_time`` conditioning (2816 = 6*256 + 1280)."""
    return {"_class_name": "UNet2DConditionModel", "sample_size": 128, "in_channels": in_channels,
            "out_channels": 4, "layers_per_block": 2, "block_out_channels": [320, 640, 1280],
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "attention_head_dim": [5, 10, 20], "transformer_layers_per_block": [1, 2, 10],
            "use_linear_projection": True, "cross_attention_dim": 2048, "addition_embed_type": "text_time",
            "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816,
            "norm_num_groups": 32, "norm_eps": 1e-5, "flip_sin_to_cos": True, "freq_shift": 0,
            "act_fn": "silu", "mid_block_type": "UNetMidBlock2DCrossAttn"}


def vae_config() -> dict[str, Any]:
    """SDXL's VAE: four levels (x8), 4 latent channels, scaling factor 0.13025, upcast in fp16."""
    return {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4,
            "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
            "up_block_types": ["UpDecoderBlock2D"] * 4, "layers_per_block": 2, "norm_num_groups": 32,
            "act_fn": "silu", "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}


def tokenizer_vocab() -> dict[str, int]:
    """CLIP's layout: 49,408 ids, ``<|startoftext|>`` 49406, ``<|endoftext|>`` 49407, ``!`` 0.

    The real vocabulary's 48,894 merged words cannot be made here (no download), so the ids between
    the 512 byte tokens and the specials are placeholders no text tokenizes to: the embedding tables
    and special ids have the real sizes, the token ids of a prompt do not match the real tokenizer's.
    """
    alphabet = _byte_alphabet()
    tokens = alphabet + [f"{char}</w>" for char in alphabet]
    tokens += [f"<|placeholder-{index}|>" for index in range(VOCAB_SIZE - 2 - len(tokens))]
    tokens += [BOS, EOS]
    return {token: index for index, token in enumerate(tokens)}


def write_tokenizer(directory: Path, pad_token: str) -> None:
    """SDXL's tokenizer pads with ``<|endoftext|>``, tokenizer_2 with ``!`` (id 0), as the checkpoint does."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(tokenizer_vocab(), ensure_ascii=False))
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_TOKENS, "bos_token": BOS, "eos_token": EOS,
        "unk_token": EOS, "pad_token": pad_token, "do_lower_case": True,
    }, indent=2))


def meta_module(component: str, in_channels: int = 4) -> Any:
    """The component's torch module on the ``meta`` device: shapes and names, no memory."""
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    models: Any = diffusers  # diffusers is untyped
    with torch.device("meta"):
        if component == "text_encoder":
            return CLIPTextModel(CLIPTextConfig(**text_encoder_config()))
        if component == "text_encoder_2":
            return CLIPTextModelWithProjection(CLIPTextConfig(**text_encoder_2_config()))
        if component == "unet":
            return models.UNet2DConditionModel(**module_kwargs(unet_config(in_channels)))
        if component == "vae":
            return models.AutoencoderKL(**module_kwargs(vae_config()))
    raise ValueError(f"unknown SDXL component {component!r}")


def module_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """A diffusers config as constructor arguments (without its ``_class_name``-style metadata)."""
    return {key: value for key, value in config.items() if not key.startswith("_")}


def parameter_count(component: str, in_channels: int = 4) -> int:
    return sum(parameter.numel() for parameter in meta_module(component, in_channels).parameters())


def tensor_seed(name: str, seed: int = SEED) -> int:
    """A per-tensor seed from its name: the bytes do not depend on the order tensors are written in."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")


def initial_values(name: str, shape: tuple[int, ...], dtype: Any) -> NDArray[Any]:
    """One tensor's seeded values (see the module docstring for the scheme)."""
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        rng = np.random.default_rng(tensor_seed(name))
        bound = np.float32(1.0 / np.sqrt(fan_in))
        values = rng.random(shape, dtype=np.float32)
        values *= 2 * bound
        values -= bound
        return values.astype(dtype, copy=False)
    fill = 1.0 if name.endswith(".weight") else 0.0
    return np.full(shape, fill, dtype=dtype)


def _shards(tensors: list[tuple[str, tuple[int, ...]]], itemsize: int) -> Iterator[list[tuple[str, tuple[int, ...]]]]:
    """Group tensors, in order, into shards of at most :data:`SHARD_BYTES` (one tensor may exceed it alone)."""
    shard: list[tuple[str, tuple[int, ...]]] = []
    size = 0
    for name, shape in tensors:
        nbytes = int(np.prod(shape)) * itemsize
        if shard and size + nbytes > SHARD_BYTES:
            yield shard
            shard, size = [], 0
        shard.append((name, shape))
        size += nbytes
    if shard:
        yield shard


def write_weights(module: Any, folder: Path, stem: str, dtype: Any) -> int:
    """Write ``module``'s tensors as sharded safetensors + ``<stem>.safetensors.index.json``; returns bytes.

    The index is what ``from_pretrained`` of both diffusers and transformers reads for a sharded
    checkpoint; each shard is built and freed before the next, so memory stays at one shard.
    """
    from safetensors.numpy import save_file  # noqa: PLC0415 - the [builder] extra; sources import this module

    tensors = [(name, tuple(tensor.shape)) for name, tensor in module.state_dict().items()
               if tensor.is_floating_point()]
    itemsize = np.dtype(dtype).itemsize
    groups = list(_shards(tensors, itemsize))
    weight_map: dict[str, str] = {}
    total = 0
    for index, group in enumerate(groups, start=1):
        filename = f"{stem}-{index:05d}-of-{len(groups):05d}.safetensors"
        shard = {name: initial_values(name, shape, dtype) for name, shape in group}
        save_file(shard, str(folder / filename), metadata={"format": "pt", "notice": NOTICE})
        total += sum(values.nbytes for values in shard.values())
        weight_map.update(dict.fromkeys(shard, filename))
        del shard
    index_file = folder / f"{stem}.safetensors.index.json"
    index_file.write_text(json.dumps({"metadata": {"total_size": total, "notice": NOTICE},
                                      "weight_map": weight_map}, indent=2))
    return total


def _write_component(staging: Path, component: str, config: dict[str, Any], stem: str, dtype: Any,
                     in_channels: int = 4) -> None:
    folder = staging / component
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**config, "_notice": NOTICE}, indent=2))
    write_weights(meta_module(component, in_channels), folder, stem, dtype)


def materialize(directory: Path, name: str = "sdxl-architecture", dtype: str = "float16") -> Path:
    """Write the pipeline (or, for the inpaint variant, its ``unet/``) as a diffusers directory.

    Reused when complete; written next to its final place and renamed, like the tiny model, so a
    killed writer never leaves a half-written copy that a later build would trust.
    """
    if name not in NAMES:
        raise ValueError(f"unknown builtin architecture {name!r} ({', '.join(NAMES)})")
    target = directory / f"{name}-v{VERSION}-{dtype}"
    if (target / "model_index.json").exists():
        return target
    staging = directory / f".{target.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    numpy_dtype = np.dtype(dtype)
    if name == "sdxl-architecture-inpaint":
        _write_component(staging, "unet", unet_config(9), "diffusion_pytorch_model", numpy_dtype, in_channels=9)
    else:
        _write_component(staging, "text_encoder", text_encoder_config(), "model", numpy_dtype)
        _write_component(staging, "text_encoder_2", text_encoder_2_config(), "model", numpy_dtype)
        _write_component(staging, "unet", unet_config(), "diffusion_pytorch_model", numpy_dtype)
        _write_component(staging, "vae", vae_config(), "diffusion_pytorch_model", numpy_dtype)
        write_tokenizer(staging / "tokenizer", pad_token=EOS)
        write_tokenizer(staging / "tokenizer_2", pad_token="!")
        (staging / "scheduler").mkdir()
        (staging / "scheduler" / "scheduler_config.json").write_text(json.dumps(
            {"_class_name": "EulerDiscreteScheduler", **scheduler_config()}, indent=2))
    (staging / "model_index.json").write_text(json.dumps(model_index(name), indent=2))
    try:
        os.replace(staging, target)
    except OSError:  # another process published the same copy first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def model_index(name: str) -> dict[str, Any]:
    if name == "sdxl-architecture-inpaint":
        return {"_class_name": "StableDiffusionXLInpaintPipeline", "_notice": NOTICE,
                "unet": ["diffusers", "UNet2DConditionModel"]}
    return {"_class_name": "StableDiffusionXLPipeline", "_notice": NOTICE, "force_zeros_for_empty_prompt": True,
            "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
