"""The built-in model's world: colours, shapes, sizes, relations, the prompt grammar and the held-out split.

One module owns every word the tiny model knows, so the renderer (training data), the checker
(evaluation) and the evaluator's prompt sets cannot disagree about what "red" or "above" means.

Grammar (every prompt fits CLIP's 77 tokens even spelled byte by byte)::

    single: "a {size} {colour} {shape} on a {background} background"
    pair:   "a {colour} {shape} {relation} a {colour} {shape} on a {background} background"

Colours are far apart in RGB so a pixel's nearest palette colour is unambiguous, and two objects
in one scene never share a colour (the checker finds objects by colour). Backgrounds are palette
colours too, never the colour of an object in the same scene.

Held-out split. A single-object scene is keyed by (colour, shape, background); a pair by
(colour1, shape1, colour2, shape2). :func:`is_held_out` puts a fixed 1/5 of the keys aside by a
stable hash (not Python's salted ``hash``). Training never renders a held-out key; evaluation
uses only held-out keys, so it measures combinations the model never saw, made of words it did see.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass

#: Saturated, far-apart colours (min pairwise RGB distance ~150), the words a prompt may use.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 215, 20),
    "purple": (140, 40, 190),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
#: Object side as a fraction of the image side: large enough to span several 8x8 latent pixels.
SIZES: dict[str, float] = {"small": 0.34, "large": 0.56}
#: The side of each object in a pair scene.
PAIR_SIZE = 0.34
RELATIONS = ("left of", "right of", "above", "below")
HELD_OUT_FRACTION = 5  # 1 in 5 keys is held out
IMAGE_SIZE = 64

_SINGLE = re.compile(r"^a (small|large) (\w+) (\w+) on a (\w+) background$")
_PAIR = re.compile(r"^a (\w+) (\w+) (left of|right of|above|below) a (\w+) (\w+) on a (\w+) background$")


class PromptError(ValueError):
    """A prompt is outside the built-in grammar; the message names the word."""


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str


@dataclass(frozen=True)
class Scene:
    """What a prompt asks for. ``relation`` relates ``objects[0]`` to ``objects[1]`` (pairs only)."""

    objects: tuple[SceneObject, ...]
    background: str
    size: str | None = None
    relation: str | None = None

    @property
    def prompt(self) -> str:
        first = self.objects[0]
        if self.relation is None:
            return f"a {self.size} {first.colour} {first.shape} on a {self.background} background"
        second = self.objects[1]
        return (f"a {first.colour} {first.shape} {self.relation} a {second.colour} {second.shape}"
                f" on a {self.background} background")

    @property
    def key(self) -> tuple[str, ...]:
        """The combination the held-out split is decided on (size and relation are not part of it)."""
        if self.relation is None:
            return (self.objects[0].colour, self.objects[0].shape, self.background)
        return tuple(word for obj in self.objects for word in (obj.colour, obj.shape))


def _check(scene: Scene) -> Scene:
    for obj in scene.objects:
        if obj.colour not in COLOURS:
            raise PromptError(f"prompt: unknown colour {obj.colour!r} (known: {', '.join(COLOURS)})")
        if obj.shape not in SHAPES:
            raise PromptError(f"prompt: unknown shape {obj.shape!r} (known: {', '.join(SHAPES)})")
    if scene.background not in COLOURS:
        raise PromptError(f"prompt: unknown background {scene.background!r}")
    colours = [obj.colour for obj in scene.objects] + [scene.background]
    if len(set(colours)) != len(colours):
        raise PromptError("prompt: every object and the background need different colours")
    return scene


def parse_prompt(prompt: str) -> Scene:
    """The scene a prompt of the built-in grammar asks for; :class:`PromptError` otherwise."""
    text = " ".join(prompt.lower().split())
    if match := _SINGLE.match(text):
        size, colour, shape, background = match.groups()
        return _check(Scene((SceneObject(colour, shape),), background, size=size))
    if match := _PAIR.match(text):
        c1, s1, relation, c2, s2, background = match.groups()
        return _check(Scene((SceneObject(c1, s1), SceneObject(c2, s2)), background, relation=relation))
    raise PromptError(f"prompt: {prompt!r} is not 'a <size> <colour> <shape> on a <colour> background' "
                      "or 'a <colour> <shape> <relation> a <colour> <shape> on a <colour> background'")


def grammar_words() -> set[str]:
    """Every word a prompt of the grammar can contain (the tiny tokenizer makes each one token)."""
    fixed = {"a", "on", "background", *(word for relation in RELATIONS for word in relation.split())}
    return {*COLOURS, *SHAPES, *SIZES, *fixed}


def is_held_out(scene: Scene) -> bool:
    """Whether the scene's combination is reserved for evaluation (stable across runs and machines)."""
    digest = hashlib.sha256("|".join(scene.key).encode()).digest()
    return digest[0] % HELD_OUT_FRACTION == 0


def single_scenes() -> list[Scene]:
    """Every single-object scene of the grammar, in a fixed order."""
    return [
        Scene((SceneObject(colour, shape),), background, size=size)
        for size, colour, shape, background in itertools.product(SIZES, COLOURS, SHAPES, COLOURS)
        if colour != background
    ]


def pair_scenes() -> list[Scene]:
    """Every two-object scene of the grammar, in a fixed order."""
    return [
        Scene((SceneObject(c1, s1), SceneObject(c2, s2)), background, relation=relation)
        for c1, s1, relation, c2, s2, background in itertools.product(
            COLOURS, SHAPES, RELATIONS, COLOURS, SHAPES, COLOURS)
        if len({c1, c2, background}) == 3
    ]


def split(scenes: list[Scene], held_out: bool) -> list[Scene]:
    return [scene for scene in scenes if is_held_out(scene) == held_out]
