"""Sizes and requests are checked before anything is sent, with messages that name the problem."""

from __future__ import annotations

import pytest
from diffusion_operator.client.errors import EXIT_USAGE, UsageError
from diffusion_operator.client.request import ImageRequest, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("1024x1024", (1024, 1024)),
    ("768x1344", (768, 1344)),
    (" 64 X 64 ", (64, 64)),
    ("1536x64", (1536, 64)),
])
def test_a_size_is_width_by_height_in_multiples_of_eight(text: str, expected: tuple[int, int]):
    assert parse_size(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("1000x1001", "height 1001 is not a multiple of 8"),
    ("1001x1000", "width 1001 is not a multiple of 8"),
    ("56x64", "width 56 is outside 64..1536"),
    ("64x1544", "height 1544 is outside 64..1536"),
    ("1024", "expected WIDTHxHEIGHT"),
    ("axb", "expected WIDTHxHEIGHT"),
    ("-64x64", "expected WIDTHxHEIGHT"),
])
def test_a_bad_size_is_a_usage_error_that_says_why(text: str, message: str):
    with pytest.raises(UsageError, match=message) as caught:
        parse_size(text)
    assert caught.value.exit_code == EXIT_USAGE


def test_an_empty_prompt_or_a_seed_outside_int64_is_refused_locally():
    with pytest.raises(UsageError, match="prompt"):
        ImageRequest(prompt="  ").validated()
    with pytest.raises(UsageError, match="seed"):
        ImageRequest(prompt="x", seed=2**63).validated()
    with pytest.raises(UsageError, match="seed"):
        ImageRequest(prompt="x", seed=-1).validated()


def test_steps_are_left_to_the_server_which_owns_their_bounds():
    assert ImageRequest(prompt="x", steps=0).validated().steps == 0
