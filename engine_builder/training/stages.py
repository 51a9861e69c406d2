"""The training stages of the built-in model, each a plain function of data, modules and a step count.

Order (as latent diffusion is trained): the VAE first, then the UNet with both text encoders on
the VAE's latents, then the inpainting UNet started from the UNet (SD-inpainting's recipe: the five
extra input channels start at zero, so step 0 is the text-to-image model), then the segmenter.

Objective: epsilon prediction on the scheduler's own ``scaled_linear`` betas, which is what
``EulerDiscreteScheduler`` (leading spacing, 30 steps by default) inverts at serving time; Min-SNR
weighting (gamma 5, Hang et al. 2023) because it converges in fewer steps, which is what a
2-core budget needs. Offset noise (Guttenberg 2023) of 0.6, far above the 0.1 usual at SD's 64x64
latents: at 8x8 latents the mean of each channel is a mean of only 64 pixels, so even at t=958 (the
first of 30 leading-spaced steps) it still carries the image's mean colour, and a model trained with
0.05 learned to read the background colour off its input, then at sampling time took it from the
seed's noise (measured here: the same seed gave the same background whatever the prompt said; held-out
backgrounds right 5 % of the time at 0.05, 80 % at 0.6, after 1,000 steps each). Classifier-free
guidance: 10 % of prompts are dropped to *zero* embeddings, because the pipeline's negative is zeros
(``force_zeros_for_empty_prompt``).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

DROP_PROMPT = 0.1
MIN_SNR_GAMMA = 5.0
OFFSET_NOISE = 0.6
EMA_DECAY = 0.995
Log = Callable[[str], None]


def to_tensor(images: NDArray[np.uint8]) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [-1, 1] (diffusers' VaeImageProcessor convention)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _schedule(optimizer: torch.optim.Optimizer, steps: int, warmup: int = 50) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _batches(count: int, batch: int, steps: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    for _ in range(steps):
        yield torch.randint(0, count, (batch,), generator=generator)


class Ema:
    """Exponential moving average of a module's parameters (what ships), started from its weights."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.shadow = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        decay = min(EMA_DECAY, (1 + step) / (10 + step))
        for shadow, live in zip(self.shadow.parameters(), module.parameters(), strict=True):
            shadow.lerp_(live, 1 - decay)


def train_vae(vae: Any, images: torch.Tensor, *, steps: int, batch: int, crop: int, lr: float,
              generator: torch.Generator, log: Log) -> None:
    """Reconstruction (L1 + MSE) of random crops through the posterior *mean*: a deterministic autoencoder.

    Crops: the VAE is convolutional, so crops teach it the same local job at a fraction of the cost.
    Deterministic: measured here, sampling the posterior (std ~1 at init) while training drowned the
    colours in noise within a 2-core budget. The log-variance rows of ``quant_conv`` are set to a
    constant -20 (std 5e-5) and receive no gradient, so the inpainting pipeline's posterior sample
    equals the mean, as the UNet saw in training.
    """
    channels = vae.config.latent_channels
    with torch.no_grad():
        vae.quant_conv.weight[channels:].zero_()
        vae.quant_conv.bias[channels:].fill_(-20.0)
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    scheduler = _schedule(optimizer, steps)
    size = images.shape[-1]
    start = time.monotonic()
    for step, index in enumerate(_batches(len(images), batch, steps, generator)):
        y, x = (int(v) for v in torch.randint(0, size - crop + 1, (2,), generator=generator))
        target = images[index, :, y:y + crop, x:x + crop]
        recon = vae.decode(vae.encode(target).latent_dist.mean).sample
        loss = (recon - target).abs().mean() + ((recon - target) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps} loss {loss.item():.4f} ({time.monotonic() - start:.0f} s)")
    vae.eval()


@torch.no_grad()
def encode(vae: Any, images: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Posterior means of whole images (deterministic latents for the diffusion stages)."""
    return torch.cat([vae.encode(images[i:i + chunk]).latent_dist.mean for i in range(0, len(images), chunk)])


def prompt_embeddings(text_encoder: Any, text_encoder_2: Any, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SDXL's conditioning: both encoders' penultimate hidden states side by side, and clip2's projection."""
    first = text_encoder(ids, output_hidden_states=True)
    second = text_encoder_2(ids, output_hidden_states=True)
    hidden = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)
    return hidden, second.text_embeds


def _noisy(latents: torch.Tensor, alphas: torch.Tensor, generator: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    count = latents.shape[0]
    timesteps = torch.randint(0, len(alphas), (count,), generator=generator)
    noise = torch.randn(latents.shape, generator=generator)
    noise = noise + OFFSET_NOISE * torch.randn((count, latents.shape[1], 1, 1), generator=generator)
    alpha = alphas[timesteps].view(-1, 1, 1, 1)
    noisy = alpha.sqrt() * latents + (1 - alpha).sqrt() * noise
    snr = alphas[timesteps] / (1 - alphas[timesteps])
    weight = torch.clamp(snr, max=MIN_SNR_GAMMA) / snr
    return noisy, noise, timesteps, weight


def train_denoiser(unet: Any, encoders: tuple[Any, Any] | None, frozen: tuple[Any, Any], latents: torch.Tensor,
                   ids: torch.Tensor, *, steps: int, batch: int, lr: float, alphas: torch.Tensor, side: int,
                   generator: torch.Generator, log: Log,
                   extra: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> Ema:
    """Train ``unet`` (and ``encoders`` when given, else ``frozen`` encoders) to predict the noise.

    ``extra(index, noisy)`` returns the input the UNet sees (the inpainting UNet's 9 channels);
    by default the noisy latents alone. Returns the EMA of the UNet; encoders are EMA'd in place.
    """
    trained = [unet, *(encoders or ())]
    params = [p for module in trained for p in module.parameters()]
    for module in trained:
        module.train()
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    scheduler = _schedule(optimizer, steps)
    emas = [Ema(module) for module in trained]
    text = encoders or frozen
    time_ids = torch.tensor([[side, side, 0, 0, side, side]], dtype=torch.float32)
    start = time.monotonic()
    for step, index in enumerate(_batches(len(latents), batch, steps, generator)):
        noisy, noise, timesteps, weight = _noisy(latents[index], alphas, generator)
        with torch.set_grad_enabled(encoders is not None):
            hidden, pooled = prompt_embeddings(text[0], text[1], ids[index])
        keep = (torch.rand((batch,), generator=generator) >= DROP_PROMPT).float()
        hidden, pooled = hidden * keep.view(-1, 1, 1), pooled * keep.view(-1, 1)
        sample = noisy if extra is None else extra(index, noisy)
        prediction = unet(sample, timesteps, encoder_hidden_states=hidden,
                          added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids.expand(batch, -1)}).sample
        loss = (weight * ((prediction - noise) ** 2).mean(dim=(1, 2, 3))).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        for ema, module in zip(emas, trained, strict=True):
            ema.update(module, step)
        if step % 100 == 0 or step == steps - 1:
            log(f"denoiser step {step}/{steps} loss {loss.item():.4f} ({time.monotonic() - start:.0f} s)")
    for ema, module in zip(emas[1:], trained[1:], strict=True):
        module.load_state_dict(ema.shadow.state_dict())
        module.eval()
    return emas[0]


def train_segmenter(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, *, steps: int, batch: int,
                    lr: float, generator: torch.Generator, log: Log) -> None:
    """Binary cross-entropy + soft Dice on product photos ([0, 1] RGB in, P(product) out)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    scheduler = _schedule(optimizer, steps)
    start = time.monotonic()
    for step, index in enumerate(_batches(len(images), batch, steps, generator)):
        probability = model(images[index]).clamp(1e-6, 1 - 1e-6)
        target = masks[index]
        bce = torch.nn.functional.binary_cross_entropy(probability, target)
        dice = 1 - (2 * (probability * target).sum() + 1) / (probability.sum() + target.sum() + 1)
        loss = bce + dice
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"segmenter step {step}/{steps} loss {loss.item():.4f} ({time.monotonic() - start:.0f} s)")
    model.eval()
