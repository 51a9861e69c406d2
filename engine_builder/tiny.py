"""`builtin://tiny-sdxl`: a deterministic, *trained* SDXL-*architecture* pipeline at toy size.

It exists so CPU development, the demo and CI exercise the exact code paths of a real SDXL build
(two text encoders, the second with a projection; a UNet with ``text_time`` conditioning and
three resolution levels; a 4-level VAE that keeps the x8 scale; CLIP BPE tokenizers over bytes, with
whole-word merges for the built-in grammar) without
downloading gigabytes. Its weights ship in ``engine_builder/weights`` (safetensors + ``manifest.json``),
trained here by ``make tiny-model`` (:mod:`engine_builder.training`) on procedural scenes
(:mod:`engine_builder.scenes`), so its images show what the prompt asked for ("a small red circle on
a blue background") and a checker can tell a working pipeline from a broken one. Two builds on any
machine give bit-identical components; the whole pipeline runs in well under a second at 64 px.

``builtin://tiny-sdxl-random`` (and ``-inpaint-random``) keep the old random initialisation
(``torch.manual_seed``): the quality gate must be shown to refuse it.

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

from engine_builder.errors import SourceError

#: Bump when any config below or the shipped weights change, so cached copies are rebuilt.
TINY_VERSION = 3
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = "manifest.json"
#: The shipped weight files, one per component (``inpaint_unet`` is builtin://tiny-sdxl-inpaint's UNet).
WEIGHT_FILES = ("text_encoder", "text_encoder_2", "unet", "vae", "inpaint_unet", "segmenter")
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


def tokenizer_merges() -> list[tuple[str, str]]:
    """BPE merges that make each word of the built-in grammar one token, as CLIP's own merges do for
    common English words (``red</w>`` is a single token in openai/clip-vit-large-patch14).

    Why whole words: with one token per byte the small 3-layer text encoders must learn to spell
    before they can bind a colour to its noun, and a word's position in the prompt shifts with the
    lengths of the words before it; with one token per word, "background"'s colour is always the
    token before it. Each word is merged left to right, longest words first: BPE applies the
    lowest-ranked pair first, so a short word's merge (``r i`` of "right") must not outrank a longer
    word's (``t r`` of "triangle"); the unit test checks that every grammar word comes out as one token.
    """
    from engine_builder.scenes import vocabulary  # noqa: PLC0415 - the words' one owner

    merges: list[tuple[str, str]] = []
    for word in sorted(vocabulary.grammar_words(), key=lambda word: (-len(word), word)):
        symbols = [*word[:-1], f"{word[-1]}</w>"]
        merged = symbols[0]
        for symbol in symbols[1:]:
            if (merged, symbol) not in merges:
                merges.append((merged, symbol))
            merged += symbol
    return merges


def tokenizer_vocab() -> dict[str, int]:
    """Every byte alone and as a word end (``</w>``), the grammar's merged words, then BOS/EOS: any text
    tokenizes (unknown words byte by byte), the built-in grammar word by word."""
    alphabet = _byte_alphabet()
    tokens = alphabet + [f"{char}</w>" for char in alphabet] + [left + right for left, right in tokenizer_merges()]
    tokens += [BOS, EOS]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def write_tokenizer(directory: Path) -> None:
    """Write a CLIP tokenizer that ``CLIPTokenizer.from_pretrained(directory)`` loads offline.

    transformers 5 ignores ``CLIPTokenizer(vocab_file=...)``; ``from_pretrained`` on a directory with
    vocab.json + merges.txt + tokenizer_config.json is the path that reads the files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(tokenizer_vocab(), ensure_ascii=False))
    merges = "".join(f"{left} {right}\n" for left, right in tokenizer_merges())
    (directory / "merges.txt").write_text("#version: 0.2\n" + merges, encoding="utf-8")
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
    """Three levels (up-factor 4) like SDXL's DownBlock -> CrossAttn -> CrossAttn, at toy widths.

    32 channels at every level: measured on 2 CPU cores, this halves a training step against
    (32, 64, 64) and the procedural scenes do not need more width at 8x8 latents.
    """
    return {
        "sample_size": 32,
        "in_channels": 4,
        "out_channels": 4,
        "layers_per_block": 1,
        "block_out_channels": (32, 32, 32),
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        "attention_head_dim": (2, 2, 2),
        "transformer_layers_per_block": (1, 1, 1),
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


def build_tiny_inpaint_unet(trained: bool = True) -> Any:
    """The tiny inpainting UNet (``UNet2DConditionModel``), identical on every call."""
    import diffusers
    import torch

    torch.manual_seed(SEED + 4)
    models: Any = diffusers  # diffusers is untyped
    unet = models.UNet2DConditionModel(**inpaint_unet_config())
    if trained:
        unet.load_state_dict(load_weights("inpaint_unet"))
    return unet.eval()


def inpaint_from_base(unet: Any) -> Any:
    """A 9-channel UNet that starts as ``unet``: the extra input channels' weights are zero.

    Stable Diffusion's inpainting checkpoints were started this way, so at step 0 the inpainting
    model is the text-to-image model and training only has to teach it to use the mask.
    """
    import diffusers
    import torch

    models: Any = diffusers
    inpaint = models.UNet2DConditionModel(**inpaint_unet_config())
    state = {key: value.clone() for key, value in unet.state_dict().items()}
    weight = torch.zeros_like(inpaint.conv_in.weight)
    weight[:, : unet.config.in_channels] = state["conv_in.weight"]
    state["conv_in.weight"] = weight
    inpaint.load_state_dict(state)
    return inpaint


def _variant(trained: bool) -> str:
    return f"v{TINY_VERSION}" if trained else f"random-v{TINY_VERSION}"


def materialize_inpaint(directory: Path, trained: bool = True) -> Path:
    """A directory whose ``unet/`` is the tiny inpainting UNet (reused when complete, like :func:`materialize`)."""
    target = directory / f"tiny-sdxl-inpaint-{_variant(trained)}"
    if (target / "unet" / "config.json").exists():
        return target
    staging = directory / f".tiny-sdxl-inpaint-{_variant(trained)}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    build_tiny_inpaint_unet(trained).save_pretrained(staging / "unet", safe_serialization=True)
    try:
        os.replace(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_weights(name: str, directory: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """One shipped component's trained state dict (``SourceError`` names the file when it is missing)."""
    from safetensors.torch import load_file  # noqa: PLC0415 - safetensors.torch imports torch

    path = directory / f"{name}.safetensors"
    if not path.is_file():
        raise SourceError(f"builtin model: {path} is missing (run `make tiny-model`)")
    return load_file(str(path))


def read_manifest(directory: Path = WEIGHTS_DIR) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    return manifest


def save_weights(directory: Path, pipe: Any, inpaint_unet: Any, segmenter: Any, manifest: dict[str, Any]) -> None:
    """Write every trained component as ``<name>.safetensors`` plus ``manifest.json``."""
    from safetensors.torch import save_file  # noqa: PLC0415 - safetensors.torch imports torch

    directory.mkdir(parents=True, exist_ok=True)
    modules = {"text_encoder": pipe.text_encoder, "text_encoder_2": pipe.text_encoder_2, "unet": pipe.unet,
               "vae": pipe.vae, "inpaint_unet": inpaint_unet, "segmenter": segmenter}
    for name in WEIGHT_FILES:
        state = {key: value.detach().contiguous() for key, value in modules[name].state_dict().items()}
        save_file(state, str(directory / f"{name}.safetensors"))
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def load_tokenizer() -> Any:
    """The tiny CLIP tokenizer, loaded the way transformers reads it from a checkpoint."""
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer(Path(tmp))
        return CLIPTokenizer.from_pretrained(tmp)


def vae_config() -> dict[str, Any]:
    """Four levels: three down-samplings keep SDXL's x8 pixel-to-latent scale.

    Narrow (16 channels at full resolution) because full-resolution convolutions are most of the
    VAE's training cost on 2 CPU cores; flat-coloured scenes need little width. The trained weights
    replace ``scaling_factor`` with the one measured on their latents (``manifest.json``).
    """
    return {
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "block_out_channels": (16, 32, 32, 32),
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "layers_per_block": 1,
        "norm_num_groups": 8,
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


def write_pipeline_inputs(directory: Path, *, float_dtype: str = "float32", vae_scaling_factor: float = 0.13025,
                          default_size: tuple[int, int] = (64, 64)) -> Path:
    """What ``pipeline.SDXLPipeline`` reads from its model directory, for the tiny model: both tokenizers,
    SDXL's scheduler config and ``pipeline.json`` (no weights: the loop runs over fake or torch components).
    ``default_size`` is (width, height)."""
    for name in ("tokenizer", "tokenizer_2"):
        write_tokenizer(directory / name)
    (directory / "scheduler").mkdir(parents=True, exist_ok=True)
    (directory / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler_config()))
    (directory / "pipeline.json").write_text(json.dumps({
        "vae_scaling_factor": vae_scaling_factor, "force_zeros_for_empty_prompt": True, "latent_channels": 4,
        "float_dtype": float_dtype,
        "limits": {"default_width": default_size[0], "default_height": default_size[1]},
    }))
    return directory


def build_tiny_pipeline(trained: bool = True, weights: Path = WEIGHTS_DIR) -> Any:
    """The tiny pipeline in memory (a ``StableDiffusionXLPipeline``), identical on every call.

    ``trained=False`` is the random initialisation the trained weights started from.
    """
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

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
    if trained:
        for name, module in (("text_encoder", text_encoder), ("text_encoder_2", text_encoder_2), ("unet", unet),
                             ("vae", vae)):
            module.load_state_dict(load_weights(name, weights))
        vae.register_to_config(scaling_factor=float(read_manifest(weights)["vae_scaling_factor"]))
    scheduler = models.EulerDiscreteScheduler(**scheduler_config())
    tokenizer = load_tokenizer()
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


def materialize(directory: Path, trained: bool = True) -> Path:
    """Save the tiny pipeline as a diffusers directory (idempotent: reuse a complete copy).

    The directory is written next to its final place and renamed, so a killed writer never leaves a
    half-saved copy that a later build would trust.
    """
    target = directory / f"tiny-sdxl-{_variant(trained)}"
    if (target / "model_index.json").exists():
        return target
    staging = directory / f".tiny-sdxl-{_variant(trained)}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    pipe = build_tiny_pipeline(trained)
    pipe.save_pretrained(staging, safe_serialization=True)
    for name in ("tokenizer", "tokenizer_2"):
        write_tokenizer(staging / name)
    try:
        os.replace(staging, target)
    except OSError:  # another process published the same copy first
        shutil.rmtree(staging, ignore_errors=True)
    return target
