"""The SDXL text-to-image loop over four component callables, shared by Triton's BLS model, the
in-process model (``SDXLPipeline.batch`` denoises requests together) and benches.

This file is copied verbatim into the ``sdxl`` model of every published repository, next to a copy
of the ``sampling`` package, so it imports nothing else from ``engine_builder``: only numpy,
``sampling`` (torch's seeded noise and diffusers' schedulers in numpy, so the serving image needs no
torch) and transformers' tokenizer. It mirrors diffusers' ``StableDiffusionXLPipeline`` step by step
(prompt encoding with the penultimate hidden states, zeroed negative embeddings when no negative
prompt is given, SDXL's ``time_ids``, classifier-free guidance, scheduler steps sharing one seeded
generator, VAE decode), which is why the integration test can compare the two images pixel by pixel.

Serving defaults never come from the build plan: request input, else environment
(``SDXL_DEFAULT_STEPS``, ``SDXL_DEFAULT_GUIDANCE_SCALE``, ``SDXL_DEFAULT_SCHEDULER``,
``SDXL_UPSCALE_FACTOR``), else the built-in values below; so changing them never rebuilds engines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

if __package__:
    from engine_builder.sampling import Scheduler, TorchGenerator, from_config, randn_tensor
else:  # inside a published model directory, next to its copy of the sampling package
    from sampling import Scheduler, TorchGenerator, from_config, randn_tensor  # type: ignore[no-redef]

#: Request names -> the diffusers scheduler each mirrors (sampling/ implements them in numpy).
SCHEDULERS = {
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
}
BUILTIN_STEPS = 30
BUILTIN_GUIDANCE = 5.0
BUILTIN_SCHEDULER = "euler"
#: "none" (or 1) skips the upscale model; 2 and 4 run it.
UPSCALE_FACTORS = {"none": 1, "1": 1, "2": 2, "4": 4}
MAX_STEPS = 150
#: Seeds are int64 on the wire; the generator (torch's mt19937 seeding) keeps their low 32 bits.
MAX_SEED = 2**63 - 1

# One callable per Triton component model: named inputs in, named outputs out (NVIDIA tensor names).
Component = Callable[[dict[str, NDArray[Any]]], dict[str, NDArray[Any]]]


class RequestError(ValueError):
    """A request (or a serving env var) is invalid; the message names the input."""


class RequestCancelledError(Exception):
    """Nobody wants the image any more (Triton cancelled the request: its client went away).

    Raised between denoising steps, so an abandoned request stops using the accelerator within one
    step instead of running to its end for an answer nobody reads.
    """


#: Whether to stop: checked before the prompt encoding, before every step and before the decode.
StopCheck = Callable[[], bool]


def never() -> bool:
    return False


def cancellation(triton_request: Any) -> StopCheck:
    """A Triton request's ``is_cancelled`` (Python backend >= 23.10: Triton cancels a request whose
    client closed its connection or cancelled its RPC), or ``never`` where the server is older."""
    return getattr(triton_request, "is_cancelled", never)


def stop_if(cancelled: StopCheck) -> None:
    if cancelled():
        raise RequestCancelledError("the request was cancelled")


@dataclass(frozen=True)
class Defaults:
    steps: int = BUILTIN_STEPS
    guidance_scale: float = BUILTIN_GUIDANCE
    scheduler: str = BUILTIN_SCHEDULER
    upscale_factor: int = 1


def defaults_from_env(env: Mapping[str, str]) -> Defaults:
    """Serving defaults from the pod's environment; a bad value names its variable."""
    base = Defaults()
    try:
        steps = int(env.get("SDXL_DEFAULT_STEPS", base.steps))
        guidance = float(env.get("SDXL_DEFAULT_GUIDANCE_SCALE", base.guidance_scale))
    except ValueError as err:
        raise RequestError(f"SDXL_DEFAULT_STEPS/SDXL_DEFAULT_GUIDANCE_SCALE: {err}") from err
    scheduler = env.get("SDXL_DEFAULT_SCHEDULER", base.scheduler)
    factor = env.get("SDXL_UPSCALE_FACTOR", "none").strip().lower()
    if factor not in UPSCALE_FACTORS:
        raise RequestError(f"SDXL_UPSCALE_FACTOR: {factor!r} is not one of {sorted(UPSCALE_FACTORS)}")
    defaults = Defaults(steps, guidance, scheduler, UPSCALE_FACTORS[factor])
    validate_settings(defaults.steps, defaults.guidance_scale, defaults.scheduler, "SDXL_DEFAULT_")
    return defaults


def validate_settings(steps: int, guidance: float, scheduler: str, prefix: str = "") -> None:
    if not 1 <= steps <= MAX_STEPS:
        raise RequestError(f"{prefix}steps: {steps} is outside 1..{MAX_STEPS}")
    if not 0.0 <= guidance <= 30.0:
        raise RequestError(f"{prefix}guidance_scale: {guidance} is outside 0..30")
    if scheduler not in SCHEDULERS:
        raise RequestError(f"{prefix}scheduler: {scheduler!r} is not one of {sorted(SCHEDULERS)}")


@dataclass(frozen=True)
class Limits:
    """Image sizes the engines accept (TensorRT profiles are bounded; ONNX Runtime is not)."""

    min_width: int = 64
    max_width: int = 1536
    min_height: int = 64
    max_height: int = 1536
    default_width: int = 1024
    default_height: int = 1024


@dataclass(frozen=True)
class Request:
    prompt: str
    negative_prompt: str | None
    seed: int
    steps: int
    guidance_scale: float
    width: int
    height: int
    scheduler: str
    upscale_factor: int


def resolve_request(raw: Mapping[str, Any], defaults: Defaults, limits: Limits,
                    random_seed: Callable[[], int]) -> Request:
    """Merge request inputs over defaults and validate; ``random_seed`` is injected for tests."""
    prompt = raw.get("prompt")
    if not isinstance(prompt, str):
        raise RequestError("prompt: required (a UTF-8 string)")
    steps = int(raw.get("steps", defaults.steps))
    guidance = float(raw.get("guidance_scale", defaults.guidance_scale))
    scheduler = str(raw.get("scheduler", defaults.scheduler))
    validate_settings(steps, guidance, scheduler)
    width = int(raw.get("width", limits.default_width))
    height = int(raw.get("height", limits.default_height))
    for name, side, low, high in (("width", width, limits.min_width, limits.max_width),
                                  ("height", height, limits.min_height, limits.max_height)):
        if side % 8 or not low <= side <= high:
            raise RequestError(f"{name}: {side} must be a multiple of 8 in {low}..{high}")
    seed = int(raw["seed"]) if "seed" in raw else random_seed()
    if not 0 <= seed <= MAX_SEED:
        raise RequestError(f"seed: {seed} must be in 0..2**63-1")
    factor = int(raw.get("upscale_factor", defaults.upscale_factor))
    if factor not in UPSCALE_FACTORS.values():
        raise RequestError(f"upscale_factor: {factor} is not one of 1, 2, 4")
    negative = raw.get("negative_prompt")
    return Request(prompt, negative if isinstance(negative, str) else None, seed, steps, guidance,
                   width, height, scheduler, factor)


def apply_speed_tier(raw: Mapping[str, Any], tier_steps: int, default_steps: int) -> tuple[dict[str, Any], bool]:
    """The request with the overload speed tier's steps, and whether it was degraded.

    Only a request that did not set ``steps`` is touched, and only by a tier below the default (the
    operator sends its ``minSteps``; 0 means off). Anything else passes through unchanged.
    """
    if "steps" in raw or not 1 <= tier_steps < default_steps:
        return dict(raw), False
    return {**raw, "steps": tier_steps}, True


def batch_key(request: Request) -> tuple[Any, ...]:
    """Requests with equal keys can be denoised as one batch (same timesteps, guidance and latent size)."""
    return (request.steps, request.scheduler, request.guidance_scale, request.width, request.height)


def to_uint8(images: NDArray[Any]) -> NDArray[np.uint8]:
    """VAE output [1,3,H,W] in [-1,1] -> [H,W,3] uint8, rounding like diffusers' ``numpy_to_pil``."""
    scaled = np.clip(images[0].astype(np.float32) / 2 + 0.5, 0.0, 1.0).transpose(1, 2, 0)
    return np.asarray((scaled * 255).round(), dtype=np.uint8)


class SDXLPipeline:
    """Text to image over the component callables; one instance serves requests one at a time."""

    def __init__(self, directory: Path, components: Mapping[str, Component]) -> None:
        from transformers import CLIPTokenizer

        settings = json.loads((directory / "pipeline.json").read_text())
        self.vae_scaling_factor = float(settings["vae_scaling_factor"])
        self.force_zeros_for_empty_prompt = bool(settings["force_zeros_for_empty_prompt"])
        self.latent_channels = int(settings["latent_channels"])
        #: float16 on the TensorRT path: the UNet's inputs must carry the engine's types.
        self.unet_dtype = np.dtype(settings.get("float_dtype", "float32"))
        self.limits = Limits(**settings["limits"])
        self.scheduler_config = json.loads((directory / "scheduler" / "scheduler_config.json").read_text())
        self.tokenizers = [CLIPTokenizer.from_pretrained(directory / name) for name in ("tokenizer", "tokenizer_2")]
        self.components = components

    def scheduler(self, name: str) -> Scheduler:
        """The numpy scheduler standing in for ``diffusers.<class>.from_config(scheduler_config.json)``."""
        return from_config(SCHEDULERS[name], self.scheduler_config)

    def encode(self, text: str) -> tuple[NDArray[Any], NDArray[Any]]:
        """(hidden [1,77,h1+h2] from both penultimate layers, pooled [1,proj] from clip2)."""
        hidden, pooled = [], None
        for tokenizer, name in zip(self.tokenizers, ("clip", "clip2"), strict=True):
            ids = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length,
                            truncation=True, return_tensors="np").input_ids.astype(np.int32)
            out = self.components[name]({"input_ids": ids})
            hidden.append(out["hidden_states"])
            pooled = out["text_embeddings"]
        assert pooled is not None
        return np.concatenate(hidden, axis=-1), pooled

    def __call__(self, request: Request, cancelled: StopCheck = never) -> NDArray[np.uint8]:
        """The image as uint8 [height, width, 3] (before upscaling, which is its own model)."""
        return self.batch([request], cancelled)[0]

    def guided_embeddings(self, request: Request) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
        """(negative, positive) prompt embeddings and pooled embeddings, negatives zero or encoded."""
        prompt_embeds, pooled = self.encode(request.prompt)
        if request.negative_prompt is None and self.force_zeros_for_empty_prompt:
            return np.zeros_like(prompt_embeds), prompt_embeds, np.zeros_like(pooled), pooled
        negative, negative_pooled = self.encode(request.negative_prompt or "")
        return negative, prompt_embeds, negative_pooled, pooled

    def batch(self, requests: Sequence[Request], cancelled: StopCheck = never) -> list[NDArray[np.uint8]]:
        """One image per request, denoised together: one UNet call per step for the whole batch.

        The requests must agree on :func:`batch_key`. Each keeps its own seeded generator, so a
        request's noise does not depend on its neighbours; a batch of one is exactly the old loop.
        ``cancelled`` true stops the batch with :class:`RequestCancelledError` at the next step.
        """
        first = requests[0]
        if any(batch_key(r) != batch_key(first) for r in requests):
            raise ValueError("a batch needs the same steps, scheduler, guidance and size in every request")
        stop_if(cancelled)
        guided = first.guidance_scale > 1.0
        if guided:
            parts = [self.guided_embeddings(r) for r in requests]
            # diffusers' order: every negative first, then every positive (chunk(2) splits them).
            prompt_embeds = np.concatenate([p[0] for p in parts] + [p[1] for p in parts])
            pooled = np.concatenate([p[2] for p in parts] + [p[3] for p in parts])
        else:
            encoded = [self.encode(r.prompt) for r in requests]
            prompt_embeds = np.concatenate([e[0] for e in encoded])
            pooled = np.concatenate([e[1] for e in encoded])
        time_ids = np.array([[first.height, first.width, 0, 0, first.height, first.width]],
                            dtype=self.unet_dtype).repeat(prompt_embeds.shape[0], axis=0)
        prompt_embeds, pooled = prompt_embeds.astype(self.unet_dtype), pooled.astype(self.unet_dtype)

        scheduler = self.scheduler(first.scheduler)
        scheduler.set_timesteps(first.steps)
        generators = [TorchGenerator(r.seed) for r in requests]
        shape = (len(requests), self.latent_channels, first.height // 8, first.width // 8)
        latents = randn_tensor(shape, generators) * scheduler.init_noise_sigma
        guidance = np.float32(first.guidance_scale)
        for t in scheduler.timesteps:
            stop_if(cancelled)
            model_input = np.concatenate([latents] * 2) if guided else latents
            model_input = scheduler.scale_model_input(model_input, t)
            noise = self.components["unetxl"]({
                "sample": model_input.astype(self.unet_dtype),
                "timestep": np.full((model_input.shape[0],), float(t), dtype=np.float32),
                "encoder_hidden_states": prompt_embeds,
                "text_embeds": pooled,
                "time_ids": time_ids,
            })["latent"]
            noise_pred = noise.astype(np.float32)
            if guided:
                uncond, text = np.split(noise_pred, 2)
                noise_pred = uncond + guidance * (text - uncond)
            latents = scheduler.step(noise_pred, t, latents, generators)
        stop_if(cancelled)
        latent = (latents / np.float32(self.vae_scaling_factor)).astype(np.float32)
        images = self.components["vae"]({"latent": latent})["images"]
        return [to_uint8(images[index:index + 1]) for index in range(len(requests))]
