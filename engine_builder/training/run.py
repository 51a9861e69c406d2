"""Train every built-in model in order and write ``engine_builder/weights`` (safetensors + manifest.json)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import torch
import transformers

from engine_builder import tiny
from engine_builder.scenes import vocabulary
from engine_builder.segmentation import trained_segmenter_module
from engine_builder.training import data, stages
from engine_builder.training.evaluate import evaluate_weights

#: Steps and set sizes per scale: "smoke" checks the wiring in a minute, "full" is what ships.
SCALES: dict[str, dict[str, int]] = {
    "smoke": {"scenes": 512, "products": 256, "vae": 30, "unet": 30, "inpaint": 20, "segmenter": 20, "eval": 8},
    "full": {"scenes": 2500, "products": 1500, "vae": 400, "unet": 700, "inpaint": 100, "segmenter": 300,
             "eval": 20},
    # What the shipped weights come from since run 3: the VAE and the UNet 6x longer, on 3x the scenes
    # (docs/tiny-model.md: at "full" the VAE still shifted colours and its loss was still falling).
    "long": {"scenes": 8000, "products": 1500, "vae": 2500, "unet": 4000, "inpaint": 300, "segmenter": 1000,
             "eval": 20},
    # Run 4 (docs/tiny-model.md): the VAE 3x longer (measured: its reconstructions then pass the checker on
    # 99 % of singles and 91 % of pairs, against 90 % and 60 % at 2,500 steps), the UNet 2.5x longer, with
    # whole-word tokens and offset noise 0.6; evaluated on 50 held-out prompts of each kind.
    "xl": {"scenes": 8000, "products": 1500, "vae": 7500, "unet": 10000, "inpaint": 300, "segmenter": 1000,
           "eval": 50},
}
BATCH = {"vae": 16, "unet": 48, "inpaint": 48, "segmenter": 16}
LR = {"vae": 2e-3, "unet": 1.5e-3, "inpaint": 5e-4, "segmenter": 3e-3}
VAE_CROP = 32


def tokenize(prompts: list[str]) -> torch.Tensor:
    tokenizer = tiny.load_tokenizer()
    ids: torch.Tensor = tokenizer(prompts, padding="max_length", max_length=tiny.MAX_TOKENS, truncation=True,
                                  return_tensors="pt").input_ids
    return ids


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__}


def train_all(out: Path, *, seed: int, threads: int, scale: str, command: str, evaluate: bool,
              log: stages.Log) -> dict[str, Any]:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    steps = SCALES[scale]
    generator = torch.Generator().manual_seed(seed)
    timings: dict[str, float] = {}
    began = time.monotonic()

    def mark(name: str, since: float) -> float:
        timings[name] = round(time.monotonic() - since, 1)
        return time.monotonic()

    now = time.monotonic()
    scenes = data.scene_set(steps["scenes"], seed)
    products, product_masks = data.product_set(steps["products"], seed + 1)
    images = stages.to_tensor(scenes.images)
    now = mark("data", now)
    log(f"rendered {len(scenes.prompts)} scenes and {len(products)} product photos")

    pipe = tiny.build_tiny_pipeline(trained=False)
    stages.train_vae(pipe.vae, torch.cat([images, stages.to_tensor(products)]), steps=steps["vae"],
                     batch=BATCH["vae"], crop=VAE_CROP, lr=LR["vae"], generator=generator, log=log)
    raw = stages.encode(pipe.vae, images)
    scaling = float(1.0 / raw.std())
    latents = raw * scaling
    now = mark("vae", now)
    log(f"vae latents std {raw.std():.3f} -> scaling_factor {scaling:.4f}")

    ids = tokenize(scenes.prompts)
    alphas = torch.from_numpy(np.asarray(pipe.scheduler.alphas_cumprod, dtype=np.float32))
    side = vocabulary.IMAGE_SIZE
    ema = stages.train_denoiser(pipe.unet, (pipe.text_encoder, pipe.text_encoder_2), (None, None), latents, ids,
                                steps=steps["unet"], batch=BATCH["unet"], lr=LR["unet"], alphas=alphas, side=side,
                                generator=generator, log=log)
    pipe.unet.load_state_dict(ema.shadow.state_dict())
    pipe.unet.eval()
    now = mark("unet", now)

    inpaint = tiny.inpaint_from_base(pipe.unet)
    repaint = torch.from_numpy(data.repaint_masks(scenes.object_masks, np.random.default_rng(seed + 2)))[:, None]
    masked_latents = stages.encode(pipe.vae, images * (repaint < 0.5)) * scaling
    mask_latents = torch.nn.functional.interpolate(repaint, size=latents.shape[-2:])

    def inpaint_input(index: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        return torch.cat([noisy, mask_latents[index], masked_latents[index]], dim=1)

    pipe.text_encoder.requires_grad_(False)
    pipe.text_encoder_2.requires_grad_(False)
    inpaint_ema = stages.train_denoiser(inpaint, None, (pipe.text_encoder, pipe.text_encoder_2), latents, ids,
                                        steps=steps["inpaint"], batch=BATCH["inpaint"], lr=LR["inpaint"],
                                        alphas=alphas, side=side, generator=generator, log=log, extra=inpaint_input)
    now = mark("inpaint", now)

    segmenter = trained_segmenter_module()
    stages.train_segmenter(segmenter, (stages.to_tensor(products) + 1) / 2,
                           torch.from_numpy(product_masks[:, None].astype(np.float32)), steps=steps["segmenter"],
                           batch=BATCH["segmenter"], lr=LR["segmenter"], generator=generator, log=log)
    now = mark("segmenter", now)
    timings["total_training"] = round(time.monotonic() - began, 1)

    manifest: dict[str, Any] = {
        "command": command,
        "seed": seed,
        "torch_threads": threads,
        "scale": scale,
        "steps": steps,
        "batch": BATCH,
        "learning_rate": LR,
        "vae_scaling_factor": scaling,
        "tiny_version": tiny.TINY_VERSION,
        "data": {
            "image_size": side,
            "scenes": f"{steps['scenes']} renders of non-held-out scenes (half single, half pair), seed {seed}",
            "products": f"{steps['products']} cluttered product photos, seed {seed + 1}",
            "vocabulary": {"colours": list(vocabulary.COLOURS), "shapes": list(vocabulary.SHAPES),
                           "sizes": list(vocabulary.SIZES), "relations": list(vocabulary.RELATIONS)},
            "held_out": f"1 in {vocabulary.HELD_OUT_FRACTION} (colour, shape, background) singles and "
                        "(colour1, shape1, colour2, shape2) pairs by sha256 (engine_builder.scenes.vocabulary)",
            "vae_crop": VAE_CROP,
        },
        "versions": versions(),
        "timings_s": timings,
    }
    tiny.save_weights(out, pipe, inpaint_ema.shadow, segmenter, manifest)
    log(f"saved weights to {out}")
    if evaluate:
        manifest["evaluation"] = evaluate_weights(out, count=steps["eval"], log=log)
        manifest["timings_s"]["evaluation"] = round(time.monotonic() - now, 1)
        (out / tiny.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
