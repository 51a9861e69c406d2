"""The built-in model's world: the grammar, the held-out split, the renderer and the pixel checker.

The checker is the judge of every trained-model test and of the quality gate, so it is tested on
ground truth it cannot have seen: every scene of the grammar rendered at random places must be read
back exactly, and pure noise must match nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine_builder.scenes import checker, vocabulary
from engine_builder.scenes.render import render_product, render_scene


def test_every_prompt_parses_back_to_its_scene_and_fits_clip_tokens():
    for scene in vocabulary.single_scenes() + vocabulary.pair_scenes():
        assert vocabulary.parse_prompt(scene.prompt) == scene
        assert len(scene.prompt) + 2 <= 77  # even spelled byte by byte, plus BOS/EOS


@pytest.mark.parametrize(
    ("prompt", "word"),
    [
        ("a small pink circle on a blue background", "pink"),
        ("a small red hexagon on a blue background", "hexagon"),
        ("a red circle near a blue square on a green background", "not 'a <size>"),
        ("a small red circle on a red background", "different colours"),
    ],
)
def test_a_prompt_outside_the_grammar_is_refused_naming_the_problem(prompt, word):
    with pytest.raises(vocabulary.PromptError, match=word):
        vocabulary.parse_prompt(prompt)


def test_the_held_out_split_is_a_stable_fifth_and_never_in_the_training_pools():
    singles, pairs = vocabulary.single_scenes(), vocabulary.pair_scenes()
    held = vocabulary.split(singles, held_out=True) + vocabulary.split(pairs, held_out=True)
    assert 0.15 < len(held) / (len(singles) + len(pairs)) < 0.25
    assert not set(held) & set(vocabulary.split(singles, False) + vocabulary.split(pairs, False))
    # the split is by key: a held-out single's (colour, shape, background) is held out at every size
    keys = {scene.key for scene in vocabulary.split(singles, held_out=True)}
    assert all(scene.key not in keys for scene in vocabulary.split(singles, held_out=False))


def test_the_same_seed_renders_the_same_pixels():
    scene = vocabulary.single_scenes()[7]
    first = render_scene(scene, np.random.default_rng(3)).image
    assert np.array_equal(first, render_scene(scene, np.random.default_rng(3)).image)
    assert not np.array_equal(first, render_scene(scene, np.random.default_rng(4)).image)


def test_the_checker_reads_every_rendered_single_scene_correctly():
    rng = np.random.default_rng(0)
    failures = [
        scene.prompt for scene in vocabulary.single_scenes()
        if not checker.verdict(scene.prompt, render_scene(scene, rng).image).passed
    ]
    assert failures == []


def test_the_checker_reads_rendered_pair_scenes_and_their_relation_correctly():
    rng = np.random.default_rng(1)
    scenes = vocabulary.pair_scenes()[::15]
    failures = [scene.prompt for scene in scenes
                if not checker.verdict(scene.prompt, render_scene(scene, rng).image).passed]
    assert failures == []


def test_a_wrong_prompt_fails_exactly_the_checks_it_gets_wrong():
    scene = vocabulary.parse_prompt("a red circle left of a blue square on a white background")
    image = render_scene(scene, np.random.default_rng(2)).image
    swapped = checker.verdict("a red circle right of a blue square on a white background", image)
    assert swapped.objects_match and not swapped.checks["relation"]
    wrong_shape = checker.verdict("a red triangle left of a blue square on a white background", image)
    assert wrong_shape.checks == {**wrong_shape.checks, "object1.shape": False, "object1.colour": True,
                                  "relation": True}
    wrong_background = checker.verdict("a red circle left of a blue square on a black background", image)
    assert not wrong_background.checks["background"] and wrong_background.checks["relation"]


def test_pure_noise_matches_nothing():
    rng = np.random.default_rng(5)
    prompts = [scene.prompt for scene in vocabulary.single_scenes()[::9] + vocabulary.pair_scenes()[::300]]
    for prompt in prompts:
        noise = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
        result = checker.verdict(prompt, noise)
        assert not any(result.checks.values()), (prompt, result.checks)
        assert result.analysis.background is None


def test_a_blank_image_shows_only_its_background():
    analysis = checker.analyse(np.full((64, 64, 3), 245, np.uint8))
    assert analysis.background == "white" and analysis.objects == {}


def test_larger_images_are_judged_at_the_checker_resolution():
    scene = vocabulary.parse_prompt("a large yellow triangle on a purple background")
    image = render_scene(scene, np.random.default_rng(6), size=256).image
    assert checker.verdict(scene.prompt, image).passed


def test_a_product_photo_has_one_product_mask_inside_the_frame():
    photo = render_product(np.random.default_rng(7))
    assert photo.image.shape == (64, 64, 3) and len(photo.masks) == 1
    assert 0.05 < photo.masks[0].mean() < 0.5
