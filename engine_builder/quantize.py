"""int8/fp8 UNet through NVIDIA ModelOpt: calibrate on real denoising inputs, export with Q/DQ nodes.

TensorRT builds strongly typed networks here (trt.py): the precision comes from the ONNX graph, so an
8-bit engine needs quantize/dequantize nodes in the UNet. ModelOpt's post-training quantization
(``mtq.quantize``) inserts fake quantizers into the torch UNet and sets their scales from a calibration
loop; the ordinary TorchScript export (export.py) then writes them as Q/DQ pairs: ONNX
``QuantizeLinear``/``DequantizeLinear`` for int8, TensorRT's ``trt::TRT_FP8QuantizeLinear`` /
``TRT_FP8DequantizeLinear`` for fp8 (ONNX Runtime cannot run those, TensorRT can).

Calibration runs a small prompt set through the real denoising loop (both text encoders, classifier-free
guidance, Euler timesteps, at the profile's optimal latent size), calling the UNet being calibrated,
as NVIDIA's diffusers quantization example does: activation ranges differ strongly between the noisy
first steps and the last ones, so random tensors would calibrate the wrong ranges. By default only the
text-to-image UNet is quantized: it is ~90 % of the time, and the VAE stays fp32 (components.py).
Quantizing more (``quantize_components``, the VAE too) is the aggressive recipe the quality gate
exists to refuse when it costs too much.

Runs on CPU and GPU (the module's device). Measured on tiny-SDXL (CPU): 698 quantizers, ~1 s.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from engine_builder.components import ComponentName
from engine_builder.errors import ExportError
from engine_builder.export import LoadedPipeline

#: A few varied prompts; NVIDIA's example uses 32-512 prompts for real SDXL, which a plan may need later.
CALIBRATION_PROMPTS = (
    "a photo of an astronaut riding a horse on mars",
    "a watercolor painting of a lighthouse in a storm",
    "close-up portrait of an old fisherman, dramatic light",
    "a bowl of ramen on a wooden table, top view",
    "an isometric illustration of a futuristic city",
    "a golden retriever puppy playing in the snow",
    "product shot of a red sneaker on a white background",
    "a misty pine forest at dawn, cinematic",
)
CALIBRATION_STEPS = 20
CALIBRATION_GUIDANCE = 5.0
QUANTIZED_COMPONENT: ComponentName = "unetxl"
TEXT_ENCODERS: tuple[ComponentName, ...] = ("clip", "clip2")


#: UNet layers kept in float, as NVIDIA's ModelOpt diffusers example does (``filter_func_default`` in
#: examples/diffusers/quantization/utils.py): the time and added-condition embeddings, the first and last
#: convolutions and the residual shortcuts. They are a sliver of the compute, and 8-bit rounding there
#: moves every later activation (the timestep embedding feeds every residual block).
UNET_FLOAT_LAYERS = re.compile(r".*(time_emb_proj|time_embedding|conv_in|conv_out|conv_shortcut|add_embedding).*")


def kept_in_float(quantizer_name: str) -> bool:
    return UNET_FLOAT_LAYERS.match(quantizer_name) is not None


def quant_config(precision: str) -> dict[str, Any]:
    """ModelOpt's default PTQ recipe for the precision (per-channel int8 weights / per-tensor fp8)."""
    mtq = _modelopt()
    configs = {"int8": mtq.INT8_DEFAULT_CFG, "fp8": mtq.FP8_DEFAULT_CFG}
    if precision not in configs:
        raise ExportError(f"precision {precision}: no ModelOpt recipe (int8 and fp8 are quantized)")
    return copy.deepcopy(configs[precision])


def _modelopt() -> Any:
    try:
        import modelopt.torch.quantization as mtq
    except ImportError as err:
        raise ExportError("int8/fp8 need nvidia-modelopt (the builder extra installs it)") from err
    return mtq


def _denoiser(loaded: LoadedPipeline, latent_hw: tuple[int, int], prompts: tuple[str, ...], steps: int,
              seed: int) -> Any:
    """``run(unet) -> [final latents per prompt]``: the guided Euler loop over ``prompts``, calling ``unet``."""
    import diffusers
    import torch
    from transformers import CLIPTokenizer

    tokenizers = [CLIPTokenizer.from_pretrained(loaded.directory / name) for name in ("tokenizer", "tokenizer_2")]
    schedulers: Any = diffusers  # diffusers is untyped
    scheduler_config = json.loads((loaded.directory / "scheduler" / "scheduler_config.json").read_text())
    parameter = next(loaded.modules[QUANTIZED_COMPONENT].parameters())
    device, dtype = parameter.device, parameter.dtype
    height, width = 8 * latent_hw[0], 8 * latent_hw[1]

    def encode(prompt: str) -> tuple[Any, Any]:
        hidden, pooled = [], None
        for tokenizer, name in zip(tokenizers, TEXT_ENCODERS, strict=True):
            ids = tokenizer(
                prompt,
                padding="max_length",
                max_length=tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids.to(device=device, dtype=torch.int32)
            first, penultimate = loaded.modules[name](ids)
            hidden.append(penultimate)
            pooled = first
        return torch.cat(hidden, dim=-1), pooled

    def run(unet: Any) -> list[Any]:
        generator = torch.Generator().manual_seed(seed)
        finals = []
        with torch.no_grad():
            for prompt in prompts:
                embeds, pooled = encode(prompt)
                embeds = torch.cat([torch.zeros_like(embeds), embeds]).to(dtype)
                pooled = torch.cat([torch.zeros_like(pooled), pooled]).to(dtype)
                time_ids = torch.tensor([[height, width, 0, 0, height, width]] * 2, dtype=dtype, device=device)
                scheduler = schedulers.EulerDiscreteScheduler.from_config(scheduler_config)
                scheduler.set_timesteps(steps)
                latents = torch.randn((1, loaded.dims.latent_channels, *latent_hw), generator=generator)
                latents = latents * scheduler.init_noise_sigma
                for t in scheduler.timesteps:
                    model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
                    noise = (
                        unet(
                            model_input.to(device=device, dtype=dtype),
                            torch.full((2,), float(t), device=device),
                            embeds,
                            pooled,
                            time_ids,
                        )
                        .float()
                        .cpu()
                    )
                    uncond, text = noise.chunk(2)
                    guided = uncond + CALIBRATION_GUIDANCE * (text - uncond)
                    latents = scheduler.step(guided, t, latents, return_dict=False)[0]
                finals.append(latents.to(device=device, dtype=dtype))
        return finals

    return run


def calibration_loop(loaded: LoadedPipeline, latent_hw: tuple[int, int], prompts: tuple[str, ...], steps: int,
                     seed: int = 0) -> Any:
    """``forward_loop(unet)`` for ``mtq.quantize``: the guided Euler loop over ``prompts``.

    ``seed`` draws the calibration latents: ModelOpt's calibration is only as varied as its data, so
    each attempt of the quality gate (quality/gate.py) calibrates on other latents.
    """
    denoise = _denoiser(loaded, latent_hw, prompts, steps, seed)

    def forward_loop(unet: Any) -> None:
        denoise(unet)

    return forward_loop


def component_calibration_loop(loaded: LoadedPipeline, name: ComponentName, latent_hw: tuple[int, int],
                               prompts: tuple[str, ...], steps: int, seed: int = 0) -> Any:
    """``forward_loop(module)`` for a component other than the UNet, fed what it sees when serving.

    The VAE decodes the latents the (unquantized) loop ends with; a text encoder reads the prompts.
    """
    import torch
    from transformers import CLIPTokenizer

    if name == QUANTIZED_COMPONENT:
        return calibration_loop(loaded, latent_hw, prompts, steps, seed)
    if name == "vae":
        denoise = _denoiser(loaded, latent_hw, prompts, steps, seed)
        scale = float(json.loads((loaded.directory / "vae" / "config.json").read_text()).get("scaling_factor", 0.13025))

        def decode_loop(vae: Any) -> None:
            with torch.no_grad():
                for latents in denoise(loaded.modules[QUANTIZED_COMPONENT]):
                    vae(latents / scale)

        return decode_loop
    tokenizer = CLIPTokenizer.from_pretrained(loaded.directory / ("tokenizer" if name == "clip" else "tokenizer_2"))

    def encode_loop(encoder: Any) -> None:
        with torch.no_grad():
            for prompt in prompts:
                ids = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length,
                                truncation=True, return_tensors="pt").input_ids.to(dtype=torch.int32)
                encoder(ids)

    return encode_loop


def quantize_unet(
    loaded: LoadedPipeline,
    precision: str,
    latent_hw: tuple[int, int],
    prompts: tuple[str, ...] = CALIBRATION_PROMPTS,
    steps: int = CALIBRATION_STEPS,
    seed: int = 0,
) -> int:
    """Replace the UNet in ``loaded`` by its calibrated fake-quantized version; returns the quantizer count."""
    return quantize_components(loaded, precision, latent_hw, (QUANTIZED_COMPONENT,), prompts, steps, seed)


def quantize_components(
    loaded: LoadedPipeline,
    precision: str,
    latent_hw: tuple[int, int],
    components: tuple[ComponentName, ...] = (QUANTIZED_COMPONENT,),
    prompts: tuple[str, ...] = CALIBRATION_PROMPTS,
    steps: int = CALIBRATION_STEPS,
    seed: int = 0,
    unet_float_layers: Callable[[str], bool] = kept_in_float,
) -> int:
    """Quantize each of ``components`` in ``loaded`` (the UNet alone is the default recipe).

    More than the UNet is the aggressive recipe: the VAE's decoder in 8 bits shows in every pixel,
    which is what the quality gate is there to catch. Components are calibrated in the order given,
    each before the next is quantized (the VAE calibrates on latents of the full-precision UNet
    only when it comes first). The UNet keeps the layers ModelOpt's diffusers example keeps in float
    (``unet_float_layers``, ``UNET_FLOAT_LAYERS`` by default; the benchmark compares it with none); the
    VAE has no such filter. Returns the number of enabled quantizers.
    """
    mtq = _modelopt()
    from modelopt.torch.quantization.nn import TensorQuantizer

    count = 0
    for name in components:
        loop = component_calibration_loop(loaded, name, latent_hw, prompts, steps, seed)
        loaded.modules[name] = mtq.quantize(loaded.modules[name], quant_config(precision), loop)
        if name == QUANTIZED_COMPONENT:
            mtq.disable_quantizer(loaded.modules[name], unet_float_layers)
        count += sum(1 for m in loaded.modules[name].modules() if isinstance(m, TensorQuantizer) and m.is_enabled)
    return count
