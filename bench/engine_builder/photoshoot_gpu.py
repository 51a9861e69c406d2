"""GPU benchmark of the photoshoot pipeline at full SDXL size (random weights, no download).

What it times, each on its own so a slow stage shows:

- ``unetxl_inpaint``: one denoising step of the full-size SDXL inpainting UNet (the base UNet's config
  with 9 input channels) at batch 2 (classifier-free guidance), fp16, on the GPU;
- ``vae_encoder`` / ``vae``: SDXL's VAE (fp32, as served) encoding the masked canvas and decoding the latent;
- ``pre`` / ``post``: the CPU stages (engine_builder/photoshoot.py) on a product photo of ``--photo`` px:
  decode, segmentation input, placement, SDXL canvas; then upscale-sized compose + PNG encode;
- the estimate ``pre + encode + steps x unet + decode + post`` per image at batch 1.

Weights are random (``torch.manual_seed``): the architecture, not the checkpoint, sets the cost, and the
GPU machines cannot download. The numbers are torch eager fp16, not TensorRT engines, so they bound
what the served pipeline costs from above. Without a CUDA device it prints why and exits 0 without
numbers: nothing here is ever estimated from CPU timings.

    .venv/bin/python bench/engine_builder/photoshoot_gpu.py [--size 1024] [--steps 30] [--upscale 2]
        [--photo 2048] [--repeats 10] [--out bench/results/photoshoot_gpu.json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine_builder import photoshoot, sdxl_architecture  # noqa: E402

#: SDXL base's UNet with the inpainting variant's 9 input channels, and SDXL's VAE (published configs).
SDXL_INPAINT_UNET = sdxl_architecture.module_kwargs(sdxl_architecture.unet_config(in_channels=9))
SDXL_VAE = sdxl_architecture.module_kwargs(sdxl_architecture.vae_config())


def cuda_unavailable_reason() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False): run this on a GPU machine"
    return None


def timed(fn: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> dict[str, float]:
    """Median and p90 milliseconds over ``repeats`` after two warm-up calls."""
    for _ in range(2):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync()
        samples.append(1000 * (time.perf_counter() - started))
    samples.sort()
    return {"median_ms": statistics.median(samples), "p90_ms": samples[int(0.9 * (len(samples) - 1))]}


def gpu_stages(size: int, repeats: int) -> dict[str, Any]:
    import diffusers
    import torch

    models: Any = diffusers
    device = torch.device("cuda")
    torch.manual_seed(0)
    unet = models.UNet2DConditionModel(**SDXL_INPAINT_UNET).to(device, torch.float16).eval()
    vae = models.AutoencoderKL(**SDXL_VAE).to(device, torch.float32).eval()
    latent = size // 8
    sample = torch.randn(2, 9, latent, latent, device=device, dtype=torch.float16)
    timestep = torch.full((2,), 500.0, device=device)
    hidden = torch.randn(2, 77, 2048, device=device, dtype=torch.float16)
    added = {
        "text_embeds": torch.randn(2, 1280, device=device, dtype=torch.float16),
        "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * 2, device=device, dtype=torch.float16),
    }
    image = torch.rand(1, 3, size, size, device=device) * 2 - 1
    latents = torch.randn(1, 4, latent, latent, device=device)
    sync = torch.cuda.synchronize
    with torch.inference_mode():
        results = {
            "unetxl_inpaint_step_b2": timed(
                lambda: unet(sample, timestep, hidden, added_cond_kwargs=added), repeats, sync
            ),
            "vae_encoder": timed(lambda: vae.encode(image).latent_dist.mean, repeats, sync),
            "vae_decoder": timed(lambda: vae.decode(latents), repeats, sync),
        }
    results["gpu"] = torch.cuda.get_device_name(0)
    results["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return results


def cpu_stages(size: int, upscale: int, photo_side: int, repeats: int) -> dict[str, Any]:
    """The pre/post stages as the Triton models run them (segmentation model time excluded)."""
    rng = np.random.default_rng(0)
    photo = np.full((photo_side, photo_side, 3), 255, np.uint8)
    quarter = photo_side // 4
    photo[quarter:-quarter, quarter:-quarter] = rng.integers(0, 200, size=(photo_side - 2 * quarter,) * 2 + (3,))
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="PNG")
    data, settings = buffer.getvalue(), photoshoot.Settings()
    mask = photo.mean(axis=2) < 229
    out = size * upscale

    def pre() -> Any:
        decoded = photoshoot.decode_image(data, settings)
        photoshoot.segmenter_input(decoded, {"input_size": [1024, 1024], "mean": [0.5] * 3, "std": [1.0] * 3})
        found = photoshoot.bounding_box(mask)
        box = photoshoot.place(found, out, out, 0.6, "center")
        product, product_mask = photoshoot.crop(decoded, mask, found)
        return photoshoot.sdxl_canvas(product, product_mask, box, size, size, upscale), product, product_mask, box

    _, product, product_mask, box = pre()
    generated = rng.integers(0, 256, size=(out, out, 3), dtype=np.uint8)

    def post() -> Any:
        image, weights = photoshoot.compose(generated, product, product_mask, box, photoshoot.DEFAULT_BLEND_PIXELS)
        return photoshoot.png_bytes(image), photoshoot.png_bytes(weights)

    def upscale_lanczos() -> Any:
        return Image.fromarray(generated[:size, :size]).resize((out, out), Image.Resampling.LANCZOS)

    return {
        "pre": timed(pre, repeats, lambda: None),
        "upscale_lanczos": timed(upscale_lanczos, repeats, lambda: None),
        "post": timed(post, repeats, lambda: None),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="SDXL canvas side (multiple of 8)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--upscale", type=int, default=2, choices=(1, 2, 4))
    parser.add_argument("--photo", type=int, default=2048, help="side of the synthetic product photo")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "photoshoot_gpu.json")
    args = parser.parse_args()
    reason = cuda_unavailable_reason()
    if reason is not None:
        print(f"photoshoot GPU benchmark skipped: {reason}", file=sys.stderr)
        return 0
    result: dict[str, Any] = {
        "size": args.size,
        "steps": args.steps,
        "upscale": args.upscale,
        "photo": args.photo,
        "gpu": gpu_stages(args.size, args.repeats),
        "cpu": cpu_stages(args.size, args.upscale, args.photo, args.repeats),
    }
    gpu, cpu = result["gpu"], result["cpu"]
    result["estimate_ms_per_image"] = (
        cpu["pre"]["median_ms"]
        + gpu["vae_encoder"]["median_ms"]
        + args.steps * gpu["unetxl_inpaint_step_b2"]["median_ms"]
        + gpu["vae_decoder"]["median_ms"]
        + (cpu["upscale_lanczos"]["median_ms"] if args.upscale > 1 else 0.0)
        + cpu["post"]["median_ms"]
    )
    result["note"] = "torch eager fp16 UNet / fp32 VAE with random weights; segmentation model time not included"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
