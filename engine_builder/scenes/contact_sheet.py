"""Images a person can judge at a glance: prompts -> images with the checker's verdict, and before/after.

Shared by the training's grid (``python -m engine_builder.training.grid``) and ``make demo``
(testbed/demo/stages/gallery.py), so the README's two pictures are drawn the same way. Pillow only: a
plotting library would add nothing to a row of labelled thumbnails.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from engine_builder.scenes import checker

CELL, CAPTION, THUMB = 136, 44, 128


def verdict_mark(prompt: str, image: NDArray[np.uint8]) -> str:
    """PASS (every check), "objects ok" (colours and shapes, not the relation or size), FAIL."""
    result = checker.verdict(prompt, image)
    return "PASS" if result.passed else ("objects ok" if result.objects_match else "FAIL")


def grid(prompts: Sequence[str], images: Sequence[NDArray[np.uint8]], columns: int = 8) -> Image.Image:
    """One cell per prompt: the image at 128 px (nearest, so pixels stay pixels), its prompt, its verdict."""
    rows = (len(prompts) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * CELL, rows * (CELL + CAPTION)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for index, (prompt, image) in enumerate(zip(prompts, images, strict=True)):
        x, y = (index % columns) * CELL, (index // columns) * (CELL + CAPTION)
        sheet.paste(Image.fromarray(image).resize((THUMB, THUMB), Image.Resampling.NEAREST), (x + 4, y + 4))
        text = textwrap.fill(prompt.removeprefix("a ").replace(" background", " bg"), 22)
        draw.multiline_text((x + 4, y + CELL - 2), f"{text}\n[{verdict_mark(prompt, image)}]", fill=(0, 0, 0),
                            spacing=1)
    return sheet


def before_after(panels: Sequence[tuple[str, NDArray[np.uint8]]], side: int = 192) -> Image.Image:
    """Panels side by side at ``side`` px, each captioned (e.g. the product photo, its mask, the result)."""
    sheet = Image.new("RGB", (len(panels) * (side + 8) + 8, side + 60), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for index, (caption, image) in enumerate(panels):
        x = 8 + index * (side + 8)
        sheet.paste(Image.fromarray(image).convert("RGB").resize((side, side), Image.Resampling.NEAREST), (x, 8))
        draw.multiline_text((x, side + 12), textwrap.fill(caption, 30), fill=(0, 0, 0), spacing=1)
    return sheet
