"""Prompt adherence: does the image show what the prompt asked for? A pluggable scorer, 0..100.

Two kinds plug in here, both behind :class:`AdherenceScorer` (``score(prompt, image) -> float``):

- :class:`ClipScorer`, MLPerf SDXL's recipe: 100 x cosine(image, caption) with open_clip ViT-B/32 and
  the ``openai`` weights (mlcommons/inference ``text_to_image/tools/clip``). Written against open_clip's
  documented API (``create_model_and_transforms``, ``get_tokenizer``, ``encode_image``/``encode_text``);
  the weights come from ``clipSource`` (a local file), never from a hub.
- :class:`VerdictScorer`, for a checker that answers per attribute (the built-in model's pixel-based
  scene checker, ``checker.verdict(prompt, image) -> {attribute: passed}``): the share of attributes
  that passed, in percent. The build wires it with :func:`scene_scorer` where the model has one.

The gate compares the candidate's mean with the reference's (verdict.py), so a scorer's absolute
level does not matter, only how much the engine loses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from engine_builder.errors import QualityGateUnavailableError

#: MLPerf's CLIP model: open_clip's name for ViT-B/32 (its ``openai`` weights come from clipSource).
CLIP_MODEL = "ViT-B-32"

Verdict = Callable[[str, NDArray[np.uint8]], Mapping[str, bool]]


class AdherenceScorer(Protocol):
    #: The metric's name in reports: ``clip_score`` or ``scene_checker``.
    name: str

    def score(self, prompt: str, image: NDArray[np.uint8]) -> float: ...


class VerdictScorer:
    """100 x the share of a per-attribute checker's attributes that pass (no attribute read: 0)."""

    def __init__(self, verdict: Verdict, name: str = "scene_checker") -> None:
        self.verdict = verdict
        self.name = name

    def score(self, prompt: str, image: NDArray[np.uint8]) -> float:
        results = self.verdict(prompt, image)
        return 100.0 * sum(bool(v) for v in results.values()) / len(results) if results else 0.0


class ClipScorer:
    """CLIP score with open_clip (one model load, then a forward pass per image on the CPU or GPU)."""

    name = "clip_score"

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, device: str = "cpu") -> None:
        self.model, self.preprocess, self.tokenizer, self.device = model, preprocess, tokenizer, device

    def score(self, prompt: str, image: NDArray[np.uint8]) -> float:
        import torch

        pixels = self.preprocess(Image.fromarray(image)).unsqueeze(0).to(self.device)
        tokens = self.tokenizer([prompt]).to(self.device)
        with torch.no_grad():
            image_features = self.model.encode_image(pixels).float()
            text_features = self.model.encode_text(tokens).float()
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        return float(100.0 * (image_features * text_features).sum(dim=-1).item())


def clip_weights_path(source: str, pvc_root: Path | None) -> Path:
    """``pvc://<claim>/<file>`` under ``pvc_root``, or a local path; the file must exist (no downloads)."""
    if source.startswith("pvc://"):
        if pvc_root is None:
            raise QualityGateUnavailableError(f"clipSource {source}: no claim is mounted (PVC_ROOT is unset)")
        path = pvc_root / source.removeprefix("pvc://")
    elif "://" in source:
        raise QualityGateUnavailableError(f"clipSource {source}: only pvc://<claim>/<file> or a local file can be "
                                     "read (the builder downloads no CLIP weights)")
    else:
        path = Path(source)
    if not path.is_file():
        raise QualityGateUnavailableError(f"clipSource {source}: {path} is not a file (open_clip ViT-B-32 'openai' "
                                     "weights, e.g. open_clip_pytorch_model.bin)")
    return path


def load_clip_scorer(source: str, pvc_root: Path | None = None, device: str = "cpu") -> ClipScorer:
    """open_clip ViT-B-32 with the weights at ``source``; any failure is QualityGateUnavailableError."""
    path = clip_weights_path(source, pvc_root)
    try:
        import open_clip
    except ImportError as err:
        raise QualityGateUnavailableError(
            "clipSource: open_clip is not installed in the builder image (package open-clip-torch)"
        ) from err
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(CLIP_MODEL, pretrained=str(path), device=device)
        model.eval()
        tokenizer = open_clip.get_tokenizer(CLIP_MODEL)
    except Exception as err:  # a corrupt or wrong checkpoint: the cause goes to status
        raise QualityGateUnavailableError(f"clipSource {source}: open_clip could not load {path}: "
                                     f"{type(err).__name__}: {err}") from err
    return ClipScorer(model, preprocess, tokenizer, device)


def scene_scorer(verdict: Verdict | None) -> VerdictScorer | None:
    """The slot for the built-in model's scene checker (``engine_builder.scenes``): None when absent."""
    return VerdictScorer(verdict) if verdict is not None else None
