"""Procedural, seeded images of the built-in world: prompt scenes and cluttered "product photos".

Everything is drawn with PIL at 4x the output size and box-filtered down, so edges are
anti-aliased like a photo rather than aliased like a bitmap. Only numpy and PIL: the training
script, the tests and the checker's own tests share these functions, and the same
``numpy.random.Generator`` seed always gives the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from engine_builder.scenes.vocabulary import COLOURS, IMAGE_SIZE, PAIR_SIZE, SHAPES, SIZES, Scene

SUPERSAMPLE = 4
#: Gap between the two objects of a pair along the relation's axis, as a fraction of the side.
PAIR_GAP = 0.08


@dataclass(frozen=True)
class Rendered:
    """An RGB image [H, W, 3] uint8 and one boolean mask [H, W] per object, in the scene's order."""

    image: NDArray[np.uint8]
    masks: tuple[NDArray[np.bool_], ...]
    #: A product photo's product in the scene grammar's words ("yellow triangle"); empty for scenes.
    product: str = ""


def _polygon(shape: str, cx: float, cy: float, side: float) -> list[tuple[float, float]] | None:
    half = side / 2
    if shape == "square":
        return [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    if shape == "triangle":
        return [(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    return None  # circle: an ellipse, not a polygon


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, centre: tuple[float, float], side: float,
               fill: int | tuple[int, ...]) -> None:
    """Draw one shape of the vocabulary (in supersampled pixel units)."""
    if shape not in SHAPES:
        raise ValueError(f"shape: unknown {shape!r}")
    cx, cy = centre
    points = _polygon(shape, cx, cy, side)
    if points is None:
        draw.ellipse((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), fill=fill)
    else:
        draw.polygon(points, fill=fill)


def _downsample(canvas: Image.Image, size: int) -> Image.Image:
    return canvas.resize((size, size), Image.Resampling.BOX)


def _pair_centres(relation: str, rng: np.random.Generator) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centres (fractions of the side) of object 1 and object 2 so that "1 <relation> 2" holds."""
    step = PAIR_SIZE + PAIR_GAP + rng.uniform(0.0, 0.12)
    low, high = PAIR_SIZE / 2 + 0.02, 1 - PAIR_SIZE / 2 - 0.02
    along = rng.uniform(low, high - step)
    across = rng.uniform(low, high, size=2)
    first, second = along, along + step
    if relation in ("right of", "below"):
        first, second = second, first
    if relation in ("left of", "right of"):
        return (first, across[0]), (second, across[1])
    return (across[0], first), (across[1], second)


def render_scene(scene: Scene, rng: np.random.Generator, size: int = IMAGE_SIZE) -> Rendered:
    """The scene drawn at a random place (and, for pairs, a random gap) that keeps the prompt true."""
    big = size * SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), COLOURS[scene.background])
    draw = ImageDraw.Draw(canvas)
    if scene.relation is None:
        side = SIZES[scene.size or "small"] * rng.uniform(0.9, 1.1)
        centres = [tuple(rng.uniform(side / 2 + 0.03, 1 - side / 2 - 0.03, size=2))]
        sides = [side]
    else:
        centres = list(_pair_centres(scene.relation, rng))
        sides = [PAIR_SIZE * rng.uniform(0.9, 1.1) for _ in scene.objects]
    masks = []
    for obj, (cx, cy), side in zip(scene.objects, centres, sides, strict=True):
        draw_shape(draw, obj.shape, (cx * big, cy * big), side * big, COLOURS[obj.colour])
        mask = Image.new("L", (big, big), 0)
        draw_shape(ImageDraw.Draw(mask), obj.shape, (cx * big, cy * big), side * big, 255)
        masks.append(np.asarray(_downsample(mask, size)) >= 128)
    return Rendered(np.asarray(_downsample(canvas, size), dtype=np.uint8), tuple(masks))


def _clutter_background(rng: np.random.Generator, big: int) -> Image.Image:
    """A textured, busy background: a random base colour with stripes or checks, or a white studio sweep."""
    if rng.uniform() < 0.2:
        return Image.new("RGB", (big, big), (250, 250, 250))
    base = tuple(int(v) for v in rng.integers(40, 230, size=3))
    accent = tuple(int(np.clip(v + rng.integers(-60, 61), 0, 255)) for v in base)
    canvas = Image.new("RGB", (big, big), base)
    draw = ImageDraw.Draw(canvas)
    period = int(rng.integers(big // 12, big // 4))
    if rng.uniform() < 0.5:
        for offset in range(-big, big, period):
            stripe = [(offset, 0), (offset + period // 2, 0), (offset + period // 2 + big, big), (offset + big, big)]
            draw.polygon(stripe, fill=accent)
    else:
        for row in range(0, big, period):
            for col in range((row // period) % 2 * period, big, 2 * period):
                draw.rectangle((col, row, col + period - 1, row + period - 1), fill=accent)
    return canvas


def render_product(rng: np.random.Generator, size: int = IMAGE_SIZE) -> Rendered:
    """A "product photo": one large shaded object near the centre, small distractors, a busy background.

    The single mask is the product's. Distractors are smaller than the product and may be hidden
    behind it, so a segmenter must find *the product*, not every shape or every non-white pixel.
    """
    big = size * SUPERSAMPLE
    canvas = _clutter_background(rng, big)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(2, 6))):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        tint = tuple(int(v) for v in rng.integers(0, 256, size=3))
        draw_shape(draw, shape, tuple(rng.uniform(0.05, 0.95, size=2) * big), rng.uniform(0.08, 0.2) * big, tint)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    side = rng.uniform(0.4, 0.6)
    centre = tuple(rng.uniform(side / 2 + 0.02, 1 - side / 2 - 0.02, size=2) * big)
    colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    base = np.array(COLOURS[colour], dtype=np.float64)
    mask = Image.new("L", (big, big), 0)
    draw_shape(ImageDraw.Draw(mask), shape, centre, side * big, 255)
    # Shading: a vertical light-to-dark ramp over the product, like a lit object.
    ramp = np.linspace(1.15, 0.8, big)[:, None, None]
    shaded = Image.fromarray(np.clip(base[None, None, :] * ramp * np.ones((1, big, 1)), 0, 255).astype(np.uint8))
    canvas.paste(shaded, (0, 0), mask)
    return Rendered(np.asarray(_downsample(canvas, size), dtype=np.uint8),
                    (np.asarray(_downsample(mask, size)) >= 128,), f"{colour} {shape}")
