"""Whether CLIP will truncate a prompt, decided without CLIP's vocabulary.

SDXL's text encoders read 77 tokens, start and end markers included; the pipeline tokenizes with
``truncation=True`` (``engine_builder/pipeline.py``), so the rest of a longer prompt is silently
dropped, exactly as diffusers and CLIP do. The activator has no tokenizer (the vocabulary lives in
the model repository, on the Triton pods), but CLIP's pre-tokenizer is a fixed regular expression:
every word, every single digit and every run of punctuation becomes at least one BPE token. Their
count plus the two markers is therefore a lower bound of the token count, and a prompt whose bound
exceeds 77 is certainly truncated. Rare words split into several tokens, so a prompt just under the
bound may be truncated too: the flag is "certainly truncated", never "certainly whole".
"""

from __future__ import annotations

import html
import re

#: CLIP's context, start and end of text included (``CLIPTokenizer.model_max_length``).
CLIP_MAX_TOKENS = 77
#: CLIP's ``simple_tokenizer`` pattern with ``\p{L}`` as ``[^\W\d_]`` and ``\p{N}`` as ``\d``.
_PIECES = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+",
                     re.IGNORECASE)


def min_clip_tokens(text: str) -> int:
    """At least this many tokens, start and end markers included (CLIP's cleaning: unescape, squash spaces)."""
    cleaned = " ".join(html.unescape(html.unescape(text)).split()).lower()
    return len(_PIECES.findall(cleaned)) + 2


def truncated_by_clip(text: str) -> bool:
    return min_clip_tokens(text) > CLIP_MAX_TOKENS
