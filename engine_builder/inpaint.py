"""SDXL inpainting over component callables: the photoshoot's background generation.

Copied verbatim into the ``sdxl-photoshoot`` model next to ``pipeline.py`` (and its ``sampling``
package), whose tokenizers, settings, prompt encoding, noise and schedulers it reuses, so it imports
nothing else from ``engine_builder``, and no torch: the tensor glue is numpy. It mirrors
diffusers' ``StableDiffusionXLInpaintPipeline`` at ``strength=1.0`` with a 9-channel UNet, step by
step: noise latents first, then the masked image's latent sampled from the VAE encoder's
distribution with the same seeded generator, the mask resized to the latent grid by nearest
neighbour, ``[latent, mask, masked latent]`` concatenated on channels at every step, then the VAE
decode. That is why the integration test can compare its background with diffusers' pixel by pixel.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

if __package__:
    from engine_builder.pipeline import Component, Request, SDXLPipeline, StopCheck, never, stop_if, to_uint8
    from engine_builder.sampling import TorchGenerator
else:  # inside a published model directory, next to its copy of pipeline.py and sampling/
    from pipeline import Component, Request, SDXLPipeline, StopCheck, never, stop_if, to_uint8  # type: ignore[no-redef]
    from sampling import TorchGenerator  # type: ignore[no-redef]


def nearest_indices(source: int, target: int) -> NDArray[np.int64]:
    """The source index of each target index under ``torch.nn.functional.interpolate``'s default
    ``nearest`` mode: ``min(floor(i * (source / target)), source - 1)`` in float32, as ATen computes it."""
    scale = np.float32(source) / np.float32(target)
    indices = np.floor(np.arange(target, dtype=np.float32) * scale).astype(np.int64)
    return np.asarray(np.minimum(indices, source - 1), dtype=np.int64)


def resize_nearest(mask: NDArray[np.float32], size: tuple[int, int]) -> NDArray[np.float32]:
    """A [N, C, H, W] mask resized to ``size`` (H, W) like ``interpolate(mask, size=size)``."""
    rows = nearest_indices(mask.shape[-2], size[0])
    columns = nearest_indices(mask.shape[-1], size[1])
    return np.ascontiguousarray(mask[..., rows[:, None], columns[None, :]])


class InpaintPipeline:
    """Inpaints ``repaint`` (255) of ``canvas`` from the prompt; one instance serves one request at a time."""

    def __init__(self, directory: Path, components: Mapping[str, Component]) -> None:
        self.base = SDXLPipeline(directory, components)
        self.components = components

    @property
    def limits(self) -> Any:
        return self.base.limits

    def conditioning(self, request: Request) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], bool]:
        """(prompt embeds, pooled, time ids, guided), with the negative half first when guided (as diffusers)."""
        base = self.base
        prompt_embeds, pooled = base.encode(request.prompt)
        guided = request.guidance_scale > 1.0
        if guided:
            if request.negative_prompt is None and base.force_zeros_for_empty_prompt:
                negative, negative_pooled = np.zeros_like(prompt_embeds), np.zeros_like(pooled)
            else:
                negative, negative_pooled = base.encode(request.negative_prompt or "")
            prompt_embeds = np.concatenate([negative, prompt_embeds])
            pooled = np.concatenate([negative_pooled, pooled])
        time_ids = np.array(
            [[request.height, request.width, 0, 0, request.height, request.width]], dtype=base.unet_dtype
        ).repeat(prompt_embeds.shape[0], axis=0)
        return prompt_embeds.astype(base.unet_dtype), pooled.astype(base.unet_dtype), time_ids, guided

    def __call__(self, request: Request, canvas: NDArray[np.uint8], repaint: NDArray[np.uint8],
                 cancelled: StopCheck = never) -> NDArray[np.uint8]:
        """The inpainted canvas as uint8 [height, width, 3]; ``cancelled`` as in ``SDXLPipeline.batch``."""
        base = self.base
        stop_if(cancelled)
        prompt_embeds, pooled, time_ids, guided = self.conditioning(request)
        scheduler = base.scheduler(request.scheduler)
        scheduler.set_timesteps(request.steps)
        scheduler.set_begin_index(0)
        generator = TorchGenerator(request.seed)
        shape = (1, base.latent_channels, request.height // 8, request.width // 8)
        latents = generator.randn(shape) * scheduler.init_noise_sigma

        # diffusers' VaeImageProcessor: [0, 1] then 2x - 1; the mask is binarised at 0.5.
        image = (canvas.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None]
        image = np.float32(2.0) * image - np.float32(1.0)
        mask = ((repaint.astype(np.float32) / np.float32(255.0)) >= 0.5).astype(np.float32)[None, None]
        masked_image = image * (mask < 0.5)
        encoded = self.components["vae_encoder"]({"images": np.ascontiguousarray(masked_image, dtype=np.float32)})
        mean = encoded["latent_mean"].astype(np.float32)
        std = encoded["latent_std"].astype(np.float32)
        sample = generator.randn(mean.shape)
        masked_latents = np.float32(base.vae_scaling_factor) * (mean + std * sample)
        mask_latents = resize_nearest(mask, (shape[2], shape[3]))
        if guided:
            masked_latents = np.concatenate([masked_latents] * 2)
            mask_latents = np.concatenate([mask_latents] * 2)

        guidance = np.float32(request.guidance_scale)
        for t in scheduler.timesteps:
            stop_if(cancelled)
            model_input = np.concatenate([latents] * 2) if guided else latents
            model_input = scheduler.scale_model_input(model_input, t)
            model_input = np.concatenate([model_input, mask_latents, masked_latents], axis=1)
            noise = self.components["unetxl_inpaint"](
                {
                    "sample": model_input.astype(base.unet_dtype),
                    "timestep": np.full((model_input.shape[0],), float(t), dtype=np.float32),
                    "encoder_hidden_states": prompt_embeds,
                    "text_embeds": pooled,
                    "time_ids": time_ids,
                }
            )["latent"]
            noise_pred = noise.astype(np.float32)
            if guided:
                uncond, text = np.split(noise_pred, 2)
                noise_pred = uncond + guidance * (text - uncond)
            latents = scheduler.step(noise_pred, t, latents, generator)
        stop_if(cancelled)
        latent = (latents / np.float32(base.vae_scaling_factor)).astype(np.float32)
        return to_uint8(self.components["vae"]({"latent": latent})["images"])
