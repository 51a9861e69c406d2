"""Stage 6: what the built-in model draws, through the running service: a prompt grid and a photoshoot.

The one image of stage 5 shows that the path works; these show that the model does what it is
asked, in a form a person judges at a glance (engine_builder/scenes/contact_sheet.py, the same
drawing as the README's training grid). Prompts are *held-out* scenes (never rendered in training,
engine_builder/scenes/vocabulary.py) at the model's own size and the serving defaults (64 px, 30
steps, guidance 5), each scored by the pixel scene checker; the verdicts go into the summary. The
photoshoot places a rendered product photo in a prompted scene and the checker reads the new
background. Nothing here is asserted by the demo itself: it reports (tests/e2e/demo checks the files).
"""

from __future__ import annotations

import io

import numpy as np
from diffusion_operator.client.request import ImageRequest, PhotoshootRequest
from diffusion_operator.client.triton import TritonClient
from PIL import Image

from engine_builder.photoshoot import png_bytes
from engine_builder.scenes import checker
from engine_builder.scenes.contact_sheet import before_after, grid, verdict_mark
from engine_builder.scenes.render import render_product
from engine_builder.training.evaluate import held_out_prompts
from testbed.demo.context import Demo
from testbed.demo.options import SCENE_GUIDANCE as GUIDANCE
from testbed.demo.options import SCENE_SIZE as SIZE
from testbed.demo.options import SCENE_STEPS as STEPS

PER_KIND = 4
PRODUCT_SEED = 7


def _decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.uint8)


def scene_background(product: str) -> str:
    """A background colour the product photo does not already have (the checker must see a change)."""
    return "yellow" if product.startswith("blue") else "blue"


def gallery(demo: Demo) -> None:
    assert demo.endpoint is not None, "stage 5 resolves the endpoint"
    out = demo.options.out_dir
    client = TritonClient(demo.endpoint, timeout_s=300)
    try:
        with demo.stages.step("a prompt grid (held-out scenes -> images, the scene checker's verdicts)") as notes:
            singles, pairs = held_out_prompts(PER_KIND)
            prompts = singles + pairs
            images = [client.generate(ImageRequest(prompt=prompt, seed=seed, steps=STEPS, width=SIZE, height=SIZE,
                                                   guidance_scale=GUIDANCE)).image
                      for seed, prompt in enumerate(prompts)]
            grid(prompts, images, columns=PER_KIND).save(out / "demo-grid.png", optimize=True)
            verdicts = {prompt: verdict_mark(prompt, image) for prompt, image in zip(prompts, images, strict=True)}
            demo.report.grid = verdicts
            passed = sum(mark == "PASS" for mark in verdicts.values())
            notes.append(f"{out / 'demo-grid.png'}: {passed}/{len(prompts)} pass the scene checker "
                         f"({SIZE} px, {STEPS} steps)")
        with demo.stages.step("a photoshoot (a product photo placed in a prompted scene)") as notes:
            product = render_product(np.random.default_rng(PRODUCT_SEED))
            background = scene_background(product.product)
            prompt = f"a large {product.product} on a {background} background"
            shot = client.photoshoot(PhotoshootRequest(image=png_bytes(product.image), prompt=prompt, seed=PRODUCT_SEED,
                                                       steps=STEPS, width=SIZE, height=SIZE,
                                                       guidance_scale=GUIDANCE))
            after, mask = _decoded(shot.image_png), _decoded(shot.mask_png)
            seen = checker.analyse(after).background
            before_after([("the product photo", product.image), ("the product mask (segmenter)", mask),
                          (f"{prompt.removeprefix('a ')} -> background read: {seen}", after)],
                         ).save(out / "demo-photoshoot.png", optimize=True)
            demo.report.photoshoot = {"prompt": prompt, "product": product.product, "background_asked": background,
                                      "background_seen": seen, "seconds": round(shot.seconds, 3)}
            notes.append(f"{out / 'demo-photoshoot.png'}: {product.product} placed on '{background}', "
                         f"the checker reads background {seen}")
    finally:
        client.close()
