"""The gate's inputs: the prompt set, and the adherence scorers (the scene checker's slot, open_clip's API)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from engine_builder.errors import QualityGateUnavailableError
from engine_builder.quality.adherence import ClipScorer, VerdictScorer, load_clip_scorer, scene_scorer
from engine_builder.quality.prompts import DEFAULT_PROMPTS, load_prompt_file, parse_prompt_set
from tests.builder_extra import builder_module

IMAGE = np.zeros((64, 64, 3), np.uint8)


def test_no_prompt_set_means_the_default_one():
    assert parse_prompt_set(None) == DEFAULT_PROMPTS
    assert len({c.seed for c in DEFAULT_PROMPTS}) == len(DEFAULT_PROMPTS)


@pytest.mark.parametrize(("raw", "message"), [
    ([], "prompts: the prompt set is empty"),
    ("a cat", "prompts: expected a list"),
    ([{"prompt": "a cat", "seed": 1}, {"prompt": "", "seed": 2}], r"prompts\[1\]: prompt: String should have"),
    ([{"prompt": "a cat"}], r"prompts\[0\]: seed: Field required"),
    ([{"prompt": "a cat", "seed": -1}], r"prompts\[0\]: seed: Input should be greater"),
    ([{"prompt": "a", "seed": i} for i in range(17)], "17 entries, at most 16"),
])
def test_an_empty_or_malformed_prompt_set_is_unavailable_with_the_entry_named(raw, message):
    with pytest.raises(QualityGateUnavailableError, match=message):
        parse_prompt_set(raw)


def test_a_prompt_file_that_is_not_json_is_named(tmp_path: Path):
    path = tmp_path / "prompts.json"
    path.write_text("[{")
    with pytest.raises(QualityGateUnavailableError, match="is not valid JSON"):
        load_prompt_file(path)
    path.write_text(json.dumps([{"prompt": "a red circle", "seed": 3}]))
    assert load_prompt_file(path)[0].seed == 3


def test_the_scene_checker_slot_scores_the_share_of_attributes_that_pass():
    seen = []

    def verdict(prompt: str, image: np.ndarray) -> dict[str, bool]:
        seen.append((prompt, image.shape))
        return {"colour": True, "shape": True, "relation": False, "background": True}

    scorer = scene_scorer(verdict)
    assert scorer is not None and scorer.name == "scene_checker"
    assert scorer.score("a red circle left of a blue square", IMAGE) == 75.0
    assert seen == [("a red circle left of a blue square", (64, 64, 3))]
    assert VerdictScorer(lambda p, i: {}).score("x", IMAGE) == 0.0
    assert scene_scorer(None) is None


def test_a_clip_source_that_is_not_a_local_file_or_claim_is_unavailable(tmp_path: Path):
    with pytest.raises(QualityGateUnavailableError, match="downloads no CLIP weights"):
        load_clip_scorer("hf://laion/CLIP-ViT-B-32")
    with pytest.raises(QualityGateUnavailableError, match="PVC_ROOT is unset"):
        load_clip_scorer("pvc://models/clip.bin")
    with pytest.raises(QualityGateUnavailableError, match="is not a file"):
        load_clip_scorer("pvc://models/clip.bin", pvc_root=tmp_path)


class FakeOpenClip(types.ModuleType):
    """open_clip's documented surface, recording how it was called; the weights file decides success."""

    def __init__(self) -> None:
        super().__init__("open_clip")
        self.calls: list[tuple[str, str]] = []

    def create_model_and_transforms(self, name: str, pretrained: str, device: str = "cpu"):
        import torch

        self.calls.append((name, pretrained))
        if Path(pretrained).read_bytes() != b"weights":
            raise RuntimeError("Error(s) in loading state_dict for CLIP")

        class Model:
            def eval(self) -> None: ...

            def encode_image(self, pixels):
                return torch.tensor([[3.0, 4.0]])

            def encode_text(self, tokens):
                return torch.tensor([[4.0, 3.0]])

        return Model(), None, lambda image: torch.zeros(3, 224, 224)

    def get_tokenizer(self, name: str):
        import torch

        return lambda texts: torch.zeros((len(texts), 77), dtype=torch.long)


@pytest.fixture
def fake_open_clip(monkeypatch: pytest.MonkeyPatch) -> FakeOpenClip:
    module = FakeOpenClip()
    monkeypatch.setitem(sys.modules, "open_clip", module)
    return module


def test_open_clip_vit_b_32_is_loaded_from_the_claim_and_scores_100_times_the_cosine(tmp_path, fake_open_clip):
    builder_module("torch", "the CLIP scorer loads open_clip's model into torch")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "clip.bin").write_bytes(b"weights")
    scorer = load_clip_scorer("pvc://models/clip.bin", pvc_root=tmp_path)
    assert isinstance(scorer, ClipScorer) and scorer.name == "clip_score"
    assert fake_open_clip.calls == [("ViT-B-32", str(tmp_path / "models" / "clip.bin"))]
    assert scorer.score("a red circle", IMAGE) == pytest.approx(100 * (3 * 4 + 4 * 3) / 25)


def test_weights_open_clip_cannot_load_are_unavailable_with_the_cause(tmp_path, fake_open_clip):
    builder_module("torch", "the CLIP scorer loads open_clip's model into torch")
    (tmp_path / "clip.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(QualityGateUnavailableError, match=r"could not load .*RuntimeError: Error"):
        load_clip_scorer(str(tmp_path / "clip.bin"))


def test_without_open_clip_installed_the_cause_says_so(tmp_path, monkeypatch):
    (tmp_path / "clip.bin").write_bytes(b"weights")
    monkeypatch.setitem(sys.modules, "open_clip", None)  # import open_clip raises ImportError
    with pytest.raises(QualityGateUnavailableError, match="open_clip is not installed"):
        load_clip_scorer(str(tmp_path / "clip.bin"))
