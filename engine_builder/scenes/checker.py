"""A deterministic, pixel-based scene checker for the built-in model: no learned model, no randomness.

Why hand-written: the point is a judge that cannot share the generator's mistakes. It knows the
palette (:mod:`engine_builder.scenes.vocabulary`), so it reads an image the way a person would:

1. every pixel takes its nearest palette colour, or none if it is farther than ``MAX_COLOUR_DISTANCE``;
2. the background is the colour of most of the border (at least ``MIN_BORDER_SHARE`` of it), else none;
3. each other colour's largest connected region, if it covers ``MIN_OBJECT_SHARE`` of the image, is an
   object; its shape comes from how much of its bounding box it fills (square ~1, circle ~pi/4,
   triangle ~1/2) and its bounding box's aspect;
4. a relation holds when the centroids are at least ``RELATION_MARGIN`` of the side apart along its axis.

Pure noise has no dominant border colour and no large one-colour region, so it matches nothing.

API (stable; used by the quality evaluator and the gate)::

    analyse(image) -> Analysis            # what the image shows
    verdict(prompt, image) -> Verdict     # per-check pass/fail for a prompt of the built-in grammar
    Verdict.checks: dict[str, bool]       # "background", "object1.colour", "object1.shape",
                                          # "object1.size" (single) | "object2.*", "relation" (pair)
    Verdict.objects_match                 # every prompted object is there with its colour and shape
    Verdict.passed                        # every check passed
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from engine_builder.scenes.vocabulary import COLOURS, IMAGE_SIZE, SIZES, Scene, parse_prompt

MAX_COLOUR_DISTANCE = 90.0
MIN_BORDER_SHARE = 0.5
MIN_OBJECT_SHARE = 0.015
RELATION_MARGIN = 0.08
#: A single object whose bounding box's longer side passes this fraction of the image side is "large".
LARGE_EXTENT = (SIZES["small"] + SIZES["large"]) / 2
_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[name] for name in _NAMES], dtype=np.float32)


@dataclass(frozen=True)
class Detected:
    colour: str
    shape: str
    share: float  # of the image's pixels
    centre: tuple[float, float]  # (x, y) as fractions of the side
    fill: float  # of its bounding box
    extent: float  # its bounding box's longer side, as a fraction of the image side


@dataclass(frozen=True)
class Analysis:
    background: str | None
    objects: dict[str, Detected]  # by colour


@dataclass(frozen=True)
class Verdict:
    prompt: str
    scene: Scene
    analysis: Analysis
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def objects_match(self) -> bool:
        return all(ok for name, ok in self.checks.items() if name.endswith((".colour", ".shape")))

    @property
    def passed(self) -> bool:
        return all(self.checks.values())


def _as_rgb(image: NDArray[np.uint8] | Image.Image) -> NDArray[np.float32]:
    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    picture = picture.convert("RGB")
    if picture.size != (IMAGE_SIZE, IMAGE_SIZE):
        picture = picture.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(picture, dtype=np.float32)


def colour_labels(rgb: NDArray[np.float32]) -> NDArray[np.int64]:
    """Per pixel: the index of the nearest palette colour, or -1 when none is close."""
    distance = np.linalg.norm(rgb[:, :, None, :] - _PALETTE[None, None], axis=-1)
    labels: NDArray[np.int64] = distance.argmin(axis=-1)
    labels[distance.min(axis=-1) > MAX_COLOUR_DISTANCE] = -1
    return labels


def classify_shape(region: NDArray[np.bool_]) -> tuple[str, float, float]:
    """(shape, fill, extent) of one connected region: the share of its bounding box it covers decides."""
    rows, cols = np.nonzero(region)
    height, width = int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1
    fill = float(region.sum() / (height * width))
    extent = max(height, width) / max(region.shape)
    if not 0.6 <= width / height <= 1.67:
        return "unknown", fill, extent
    if fill >= 0.86:
        return "square", fill, extent
    if fill >= 0.66:
        return "circle", fill, extent
    if fill >= 0.38:
        return "triangle", fill, extent
    return "unknown", fill, extent


def largest_region(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The largest 4-connected region of ``mask`` (all False when it is empty).

    Label propagation in numpy (every pixel takes the smallest label among itself and its masked
    neighbours until nothing changes) rather than scipy.ndimage.label: the checker must run
    wherever the client runs, and that installs only numpy and Pillow. 64x64 converges in < 100 rounds.
    """
    if not mask.any():
        return mask
    big = mask.size + 1
    labels = np.where(mask, np.arange(mask.size).reshape(mask.shape), big)
    while True:
        padded = np.pad(labels, 1, constant_values=big)
        neighbours = np.minimum.reduce([padded[1:-1, 1:-1], padded[:-2, 1:-1], padded[2:, 1:-1],
                                        padded[1:-1, :-2], padded[1:-1, 2:]])
        updated = np.where(mask, neighbours, big)
        if np.array_equal(updated, labels):
            break
        labels = updated
    values, counts = np.unique(labels[mask], return_counts=True)
    region: NDArray[np.bool_] = labels == values[counts.argmax()]
    return region


def _background(labels: NDArray[np.int64]) -> str | None:
    border = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    known = border[border >= 0]
    if known.size == 0:
        return None
    counts = np.bincount(known, minlength=len(_NAMES))
    best = int(counts.argmax())
    return _NAMES[best] if counts[best] >= MIN_BORDER_SHARE * border.size else None


def analyse(image: NDArray[np.uint8] | Image.Image) -> Analysis:
    """The background colour and the objects an RGB image shows (any size; judged at 64x64)."""
    labels = colour_labels(_as_rgb(image))
    background = _background(labels)
    objects: dict[str, Detected] = {}
    for index, name in enumerate(_NAMES):
        if name == background:
            continue
        region = largest_region(labels == index)
        share = float(region.sum() / region.size)
        if share < MIN_OBJECT_SHARE:
            continue
        shape, fill, extent = classify_shape(region)
        rows, cols = np.nonzero(region)
        cy, cx = float(rows.mean()) + 0.5, float(cols.mean()) + 0.5
        objects[name] = Detected(name, shape, share, (cx / region.shape[1], cy / region.shape[0]), fill, extent)
    return Analysis(background, objects)


def relation_holds(relation: str, first: Detected, second: Detected) -> bool:
    dx = second.centre[0] - first.centre[0]
    dy = second.centre[1] - first.centre[1]
    return {
        "left of": dx >= RELATION_MARGIN,
        "right of": -dx >= RELATION_MARGIN,
        "above": dy >= RELATION_MARGIN,
        "below": -dy >= RELATION_MARGIN,
    }[relation]


def verdict(prompt: str, image: NDArray[np.uint8] | Image.Image) -> Verdict:
    """Per-check pass/fail of an image against a prompt (:class:`PromptError` outside the grammar)."""
    scene = parse_prompt(prompt)
    analysis = analyse(image)
    checks = {"background": analysis.background == scene.background}
    found = []
    for number, wanted in enumerate(scene.objects, start=1):
        detected = analysis.objects.get(wanted.colour)
        checks[f"object{number}.colour"] = detected is not None
        checks[f"object{number}.shape"] = detected is not None and detected.shape == wanted.shape
        found.append(detected)
    if scene.relation is None:
        detected = found[0]
        is_large = detected is not None and detected.extent >= LARGE_EXTENT
        checks["object1.size"] = detected is not None and is_large == (scene.size == "large")
    else:
        first, second = found
        checks["relation"] = (first is not None and second is not None
                              and relation_holds(scene.relation, first, second))
    return Verdict(prompt, scene, analysis, checks)
