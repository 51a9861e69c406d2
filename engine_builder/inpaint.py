"""SDXL inpainting over component callables: the photoshoot's background generation.

Copied verbatim into the ``sdxl-photoshoot`` model next to ``pipeline.py``, whose tokenizers,
settings and prompt encoding it reuses, so it imports nothing from ``engine_builder``. It mirrors
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
    from engine_builder.pipeline import Component, Request, SDXLPipeline, to_uint8
else:  # inside a published model directory, next to its copy of pipeline.py
    from pipeline import Component, Request, SDXLPipeline, to_uint8  # type: ignore[no-redef]


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

    def __call__(self, request: Request, canvas: NDArray[np.uint8], repaint: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The inpainted canvas as uint8 [height, width, 3]."""
        import torch

        base = self.base
        prompt_embeds, pooled, time_ids, guided = self.conditioning(request)
        scheduler = base.scheduler(request.scheduler)
        scheduler.set_timesteps(request.steps)
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(0)
        generator = torch.Generator().manual_seed(request.seed)
        shape = (1, base.latent_channels, request.height // 8, request.width // 8)
        latents = torch.randn(shape, generator=generator, dtype=torch.float32) * scheduler.init_noise_sigma

        # diffusers' VaeImageProcessor: [0, 1] then 2x - 1; the mask is binarised at 0.5.
        image = torch.from_numpy(canvas.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        image = 2.0 * image - 1.0
        mask = torch.from_numpy((repaint.astype(np.float32) / 255.0 >= 0.5).astype(np.float32))[None, None]
        masked_image = image * (mask < 0.5)
        encoded = self.components["vae_encoder"]({"images": masked_image.numpy().astype(np.float32)})
        mean = torch.from_numpy(encoded["latent_mean"].astype(np.float32))
        std = torch.from_numpy(encoded["latent_std"].astype(np.float32))
        sample = torch.randn(mean.shape, generator=generator, dtype=torch.float32)
        masked_latents = base.vae_scaling_factor * (mean + std * sample)
        mask_latents = torch.nn.functional.interpolate(mask, size=shape[-2:])
        if guided:
            masked_latents, mask_latents = torch.cat([masked_latents] * 2), torch.cat([mask_latents] * 2)

        for t in scheduler.timesteps:
            model_input = torch.cat([latents] * 2) if guided else latents
            model_input = scheduler.scale_model_input(model_input, t)
            model_input = torch.cat([model_input, mask_latents, masked_latents], dim=1)
            noise = self.components["unetxl_inpaint"](
                {
                    "sample": model_input.numpy().astype(base.unet_dtype),
                    "timestep": np.full((model_input.shape[0],), float(t), dtype=np.float32),
                    "encoder_hidden_states": prompt_embeds,
                    "text_embeds": pooled,
                    "time_ids": time_ids,
                }
            )["latent"]
            noise_pred = torch.from_numpy(noise.astype(np.float32))
            if guided:
                uncond, text = noise_pred.chunk(2)
                noise_pred = uncond + request.guidance_scale * (text - uncond)
            latents = scheduler.step(noise_pred, t, latents, generator=generator, return_dict=False)[0]
        latent = (latents / base.vae_scaling_factor).numpy().astype(np.float32)
        return to_uint8(self.components["vae"]({"latent": latent})["images"])
