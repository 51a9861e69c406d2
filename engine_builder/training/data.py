"""The training set of the built-in model, rendered here from a seed (no downloads, no files).

Text-to-image data: every non-held-out scene of the grammar (:mod:`engine_builder.scenes.vocabulary`),
singles and pairs in equal numbers, each drawn at a random place. Inpainting data: the same scenes
with a repaint mask (the background around a kept object, like a photoshoot; or a random box).
Segmentation data: cluttered product photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from engine_builder.scenes.render import render_product, render_scene
from engine_builder.scenes.vocabulary import IMAGE_SIZE, pair_scenes, single_scenes, split


@dataclass(frozen=True)
class SceneSet:
    images: NDArray[np.uint8]  # [N, H, W, 3]
    prompts: list[str]
    object_masks: NDArray[np.bool_]  # [N, H, W]: the first object's mask (what a photoshoot keeps)


def scene_set(count: int, seed: int) -> SceneSet:
    """``count`` training scenes (half single, half pair), none of them held out."""
    rng = np.random.default_rng(seed)
    singles, pairs = split(single_scenes(), held_out=False), split(pair_scenes(), held_out=False)
    images, prompts, masks = [], [], []
    for index in range(count):
        pool = singles if index % 2 == 0 else pairs
        scene = pool[int(rng.integers(len(pool)))]
        rendered = render_scene(scene, rng)
        images.append(rendered.image)
        prompts.append(scene.prompt)
        masks.append(rendered.masks[0])
    return SceneSet(np.stack(images), prompts, np.stack(masks))


def product_set(count: int, seed: int) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """``count`` product photos and their product masks."""
    rng = np.random.default_rng(seed)
    rendered = [render_product(rng) for _ in range(count)]
    return np.stack([r.image for r in rendered]), np.stack([r.masks[0] for r in rendered])


def repaint_masks(object_masks: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.float32]:
    """Masks to repaint (1) per scene: half "all but the object" (grown by 2 px), a quarter a random box,
    a quarter everything (so the inpainting UNet also generates from nothing, as SD inpainting is trained)."""
    size = IMAGE_SIZE
    out = np.ones((len(object_masks), size, size), dtype=np.float32)
    for index, mask in enumerate(object_masks):
        kind = rng.uniform()
        if kind < 0.5:
            grown = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(5))
            out[index] = 1.0 - (np.asarray(grown) > 0)
        elif kind < 0.75:
            x0, y0 = rng.integers(0, size // 2, size=2)
            w, h = rng.integers(size // 4, size // 2 + 1, size=2)
            out[index] = 0.0
            out[index, y0:y0 + h, x0:x0 + w] = 1.0
    return out
