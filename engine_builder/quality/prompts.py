"""The fixed prompt set: prompts with seeds, so every run renders from the same initial latents.

The default set is small on purpose (the gate runs in every build): a handful of prompts covering
single objects, two objects with a relation, and a texture, phrased in the built-in model's
vocabulary (coloured shapes on backgrounds) so its scene checker can read them, and plain enough
that a CLIP model scores them meaningfully for a real SDXL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine_builder.errors import QualityGateUnavailableError
from engine_builder.quality_settings import MAX_PROMPTS, PromptCase

DEFAULT_PROMPTS: tuple[PromptCase, ...] = (
    PromptCase(prompt="a red circle on a white background", seed=11),
    PromptCase(prompt="a large blue square on a yellow background", seed=23),
    PromptCase(prompt="a green triangle left of a red circle on a gray background", seed=37),
    PromptCase(prompt="a small yellow star above a blue square on a black background", seed=41),
)


def parse_prompt_set(raw: Sequence[Any] | None) -> tuple[PromptCase, ...]:
    """The prompt set from its raw entries (None: the default); empty or malformed names the entry."""
    if raw is None:
        return DEFAULT_PROMPTS
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise QualityGateUnavailableError(f"prompts: expected a list of {{prompt, seed}}, got {type(raw).__name__}")
    if not raw:
        raise QualityGateUnavailableError("prompts: the prompt set is empty; nothing could be scored")
    if len(raw) > MAX_PROMPTS:
        raise QualityGateUnavailableError(f"prompts: {len(raw)} entries, at most {MAX_PROMPTS}")
    cases = []
    for index, entry in enumerate(raw):
        try:
            cases.append(PromptCase.model_validate(entry))
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in err.errors())
            raise QualityGateUnavailableError(f"prompts[{index}]: {problems}") from err
    return tuple(cases)


def load_prompt_file(path: Path) -> tuple[PromptCase, ...]:
    """A JSON list of ``{"prompt": ..., "seed": ...}`` (the CLI's ``--prompts``)."""
    try:
        raw = json.loads(path.read_text())
    except OSError as err:
        raise QualityGateUnavailableError(f"prompts: cannot read {path}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise QualityGateUnavailableError(f"prompts: {path} is not valid JSON: {err}") from err
    return parse_prompt_set(raw)
