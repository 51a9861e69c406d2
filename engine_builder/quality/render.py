"""The two sides the gate compares: the reference pipeline and the built candidate, on the same latents.

Reference: diffusers' ``StableDiffusionXLPipeline`` in fp32 from the source directory (the same
weights the build exported), Euler, with the initial latents passed in explicitly. Candidate: the
serving loop itself (``pipeline.SDXLPipeline``, the file every repository carries) over the built
artefacts: ONNX Runtime sessions on the CPU path, the TensorRT engines through polygraphy on the GPU
(local_components.py, what the in-process model loads). The reference draws the initial latents as
``torch.randn(shape, generator=manual_seed(seed))`` on the CPU and the serving loop draws the same
values without torch (sampling/noise.py), so a prompt's seed fixes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine_builder.pipeline import Component, Request, SDXLPipeline
from engine_builder.quality_settings import PromptCase
from engine_builder.triton_models.local_components import onnx_component, tensorrt_component

Renderer = Callable[[PromptCase, int], NDArray[np.uint8]]
#: torch threads while the reference renders on a CPU. The gate's tensors are tiny (64 px, batch 2), so
#: more threads only add OpenMP synchronisation: measured on a loaded 2-core machine, 10 tiny-SDXL steps
#: took 1.2 s wall / 0.4 s CPU with one thread and 32 s / 11 s with two.
CPU_REFERENCE_THREADS = 1


def initial_latents(seed: int, channels: int, height: int, width: int) -> Any:
    """The fixed initial latents of a prompt case, exactly as the serving loop draws them."""
    import torch

    return torch.randn((1, channels, height // 8, width // 8), generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float32)


def reference_renderer(source: Path, size: tuple[int, int], guidance: float, device: str = "cpu") -> Renderer:
    """``render(case, steps)`` through fp32 diffusers (loaded once; Euler like the serving default)."""
    import diffusers
    import torch

    library: Any = diffusers  # untyped
    pipe = library.StableDiffusionXLPipeline.from_pretrained(source, torch_dtype=torch.float32).to(device)
    pipe.scheduler = library.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    width, height = size
    channels = int(pipe.unet.config.in_channels)

    def render(case: PromptCase, steps: int) -> NDArray[np.uint8]:
        latents = initial_latents(case.seed, channels, height, width).to(device)
        threads = torch.get_num_threads()
        if device == "cpu":
            torch.set_num_threads(CPU_REFERENCE_THREADS)
        try:
            with torch.no_grad():
                out = pipe(case.prompt, num_inference_steps=steps, guidance_scale=guidance, height=height,
                           width=width, latents=latents, output_type="np")
        finally:
            torch.set_num_threads(threads)
        image = np.asarray(out.images[0], dtype=np.float32)  # [H, W, 3] in 0..1, as numpy_to_pil rounds it
        if not np.isfinite(image).all():
            return np.full(image.shape, np.nan, np.float32)  # the gate sees it
        return np.asarray((np.clip(image, 0, 1) * 255).round(), np.uint8)

    return render


def candidate_renderer(pipeline_dir: Path, components: Mapping[str, Component], size: tuple[int, int],
                       guidance: float, scheduler: str = "euler") -> Renderer:
    """``render(case, steps)`` through the serving loop over the built components.

    A NaN or Inf in the VAE's output is passed on as a float image full of NaN rather than rounded
    into plausible uint8 pixels (``to_uint8`` would clip it away): the gate must see it.
    """
    checked = {name: call for name, call in components.items()}
    vae = checked["vae"]
    broken: list[bool] = []

    def watched_vae(feeds: dict[str, Any]) -> dict[str, Any]:
        out = vae(feeds)
        broken.append(not bool(np.isfinite(out["images"]).all()))
        return out

    checked["vae"] = watched_vae
    pipe = SDXLPipeline(pipeline_dir, checked)
    width, height = size

    def render(case: PromptCase, steps: int) -> NDArray[np.uint8]:
        broken.clear()
        image = pipe(Request(case.prompt, None, case.seed, steps, guidance, width, height, scheduler, 1))
        if any(broken):
            return np.full(image.shape, np.nan, np.float32)
        return image

    return render


def onnx_components(paths: Mapping[str, Path], threads: int = 0) -> dict[str, Component]:
    """ONNX Runtime sessions on the CPU for each component's ``model.onnx``."""
    return {name: onnx_component(path, threads) for name, path in paths.items()}


def engine_components(paths: Mapping[str, Path]) -> dict[str, Component]:
    """TensorRT engines through polygraphy (GPU builds; not run on the development machines)."""
    return {name: tensorrt_component(path) for name, path in paths.items()}


__all__ = ["Renderer", "candidate_renderer", "engine_components", "initial_latents", "onnx_components",
           "reference_renderer"]
