"""CLIP's truncation, judged without its vocabulary: every word, digit and run of punctuation is at
least one token, so a count beyond 77 (with the start and end markers) is certainly truncated."""

from __future__ import annotations

import pytest
from diffusion_operator.activator.openai.tokens import CLIP_MAX_TOKENS, min_clip_tokens, truncated_by_clip


@pytest.mark.parametrize(("text", "tokens"), [
    ("a cat", 4),
    ("A  CAT,  sitting!!", 7),
    ("it's 2024", 2 + 2 + 4),
    ("snake_case", 2 + 3),
    ("&amp;", 3),
    ("", 2),
])
def test_pieces_follow_clips_pre_tokenizer(text, tokens):
    assert min_clip_tokens(text) == tokens


def test_the_boundary_is_seventy_seven_tokens_markers_included():
    assert not truncated_by_clip("w " * (CLIP_MAX_TOKENS - 2))
    assert truncated_by_clip("w " * (CLIP_MAX_TOKENS - 1))
