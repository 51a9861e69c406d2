"""``diffusion evaluate``: score a running service against reference images, as the build's gate does.

The references come from ``engine-builder references`` (the fp32 reference pipeline, same prompts and
seeds, so the same initial latents). Each prompt goes to the service through Triton with its seed,
steps, guidance and size; the answers are scored with the builder's own metrics and verdicts
(engine_builder.quality), so a service that drifted from its build, a batching bug that swaps two
requests' latents or an ignored seed shows up as a failed score. Needs the builder's extras (numpy,
scipy, pillow), imported when the command runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import DEFAULT_TIMEOUT_S, Endpoint, TritonClient


@dataclass(frozen=True)
class Thresholds:
    min_psnr_db: float = 30.0
    min_ssim: float = 0.95


def evaluate_service(endpoint: Endpoint, references: Path, thresholds: Thresholds,
                     timeout_s: float = DEFAULT_TIMEOUT_S, api_key: str | None = None) -> dict[str, Any]:
    """The gate's report for the service's answers (``verdict`` Passed or Failed, scores, failures)."""
    from engine_builder.quality.evaluate import References, score_images  # noqa: PLC0415  # the builder's extras
    from engine_builder.quality.references import read_references  # noqa: PLC0415
    from engine_builder.quality.verdict import gate_failures  # noqa: PLC0415
    from engine_builder.quality_settings import QualityGateSettings  # noqa: PLC0415

    index, cases = read_references(references)
    reference = References(tuple(c for c, _ in cases), tuple(i for _, i in cases), tuple(None for _ in cases))
    client = TritonClient(endpoint, timeout_s=timeout_s, api_key=api_key)
    try:
        client.check_ready()
        answers = [client.generate(ImageRequest(prompt=case.prompt, seed=case.seed, steps=index["steps"],
                                                width=index["width"], height=index["height"],
                                                guidance_scale=index["guidance_scale"])).image
                   for case, _ in cases]
    finally:
        client.close()
    scores = score_images(answers, reference, index["steps"], None)
    settings = QualityGateSettings(min_psnr_db=thresholds.min_psnr_db, min_ssim=thresholds.min_ssim)
    failures = gate_failures(scores, settings)
    return {
        "verdict": "Failed" if failures else "Passed",
        "failures": failures,
        "scores": {"psnrDb": round(scores.worst_psnr_db, 2), "ssim": round(scores.worst_ssim, 4),
                   "finite": scores.finite},
        "images": [{"prompt": i.prompt, "seed": i.seed, "psnrDb": round(i.psnr_db, 2), "ssim": round(i.ssim, 4)}
                   for i in scores.images],
        "thresholds": {"minPsnrDb": thresholds.min_psnr_db, "minSsim": thresholds.min_ssim},
    }
