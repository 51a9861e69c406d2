"""The quality gate on the tiny model, for real: diffusers fp32 as the reference, ONNX Runtime as the candidate.

- the fp32 export agrees with the reference almost bit for bit, and passes;
- a gate that passes on noise is a defect: the same build against references from differently seeded
  weights must fail;
- ModelOpt int8: quantizing the VAE too is refused with the score and threshold named, and scores below
  the default recipe (UNet only, with the layers ModelOpt's diffusers example keeps in float). On the
  trained model the default recipe is itself still refused at few steps (SSIM 0.83 at 6 steps,
  docs/quality-gate.md; it passed on the random-weight model the thresholds were chosen on), so whether
  it passes is printed, not asserted: issue 23 keeps that open.

Small on purpose (64 px, 6 steps, calibration on 2 prompts x 3 steps): it measures, it does not bench.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from engine_builder.errors import QualityGateFailedError
from engine_builder.export import export_component, load_pipeline
from engine_builder.plan import BuildPlan
from engine_builder.quality.gate import Candidate, run_gate, serving_candidate
from engine_builder.quality.render import onnx_components
from engine_builder.quality_settings import QualityGateSettings
from engine_builder.quantize import quantize_components
from engine_builder.repository.pipeline_files import write_pipeline_files
from engine_builder.tiny import materialize

SIZE = 64
LATENT = (7, 7)  # the UNet's trace size, off its up-factor like every export
SETTINGS = QualityGateSettings(steps=6, step_counts=(3,), image_size=SIZE)
PLAN = BuildPlan(source="builtin://tiny-sdxl", backend="onnxruntime")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialize(tmp_path_factory.mktemp("quality-source"))


@pytest.fixture(scope="module")
def built(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[tuple[str, ...]], Candidate]:
    """``built(quantized)``: export the four components (the given ones int8) and render them as serving does."""
    root = tmp_path_factory.mktemp("quality-builds")

    def build(quantized: tuple[str, ...]) -> Candidate:
        name = "-".join(quantized) or "fp32"
        loaded = load_pipeline(source)
        if quantized:
            quantize_components(loaded, "int8", LATENT, quantized, prompts=("a red circle", "a blue square"), steps=3)
        paths = {}
        for component in ("clip", "clip2", "unetxl", "vae"):
            paths[component] = root / name / component / "model.onnx"
            hw = LATENT if component == "unetxl" else (SIZE // 8, SIZE // 8)
            export_component(loaded, component, paths[component], hw)
        write_pipeline_files(root / name / "sdxl", PLAN, source, loaded.dims, "float32")
        return serving_candidate(root / name / "sdxl", paths, lambda p: onnx_components(p, 1), (SIZE, SIZE), SETTINGS)

    return build


@pytest.fixture(scope="module")
def other_weights(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same architecture with a differently seeded UNet: what a wrong or broken model looks like."""
    import diffusers
    import torch

    other = tmp_path_factory.mktemp("other-weights") / "model"
    shutil.copytree(source, other)
    config = diffusers.UNet2DConditionModel.load_config(source / "unet")
    torch.manual_seed(12345)
    unet = diffusers.UNet2DConditionModel.from_config(config)
    shutil.rmtree(other / "unet")
    unet.save_pretrained(other / "unet")
    return other


def test_the_fp32_export_agrees_with_the_reference_and_passes(source, built):
    outcome = run_gate(SETTINGS, source, built(()))
    scores = outcome.report["scores"]
    print(f"fp32 ORT vs diffusers: {scores}, {outcome.report['seconds']} s")
    assert outcome.report["verdict"] == "Passed"
    assert scores["psnrDb"] > 50 and scores["ssim"] > 0.999


def test_a_gate_fed_references_from_other_weights_fails(other_weights, built):
    with pytest.raises(QualityGateFailedError) as caught:
        run_gate(SETTINGS, other_weights, built(()))
    quality = caught.value.details["quality"]
    print(f"against other weights: {quality['scores']}")
    assert quality["verdict"] == "Failed" and quality["scores"]["ssim"] < SETTINGS.min_ssim
    assert "< minSsim 0.95" in quality["message"]


def test_int8_with_the_vae_is_refused_naming_the_threshold_and_scores_below_the_default_recipe(source, built):
    default = run_gate(SETTINGS.model_copy(update={"min_psnr_db": 0.0, "min_ssim": 0.0}), source, built(("unetxl",)))
    print(f"int8 UNet: {default.report['scores']}")
    with pytest.raises(QualityGateFailedError) as caught:
        run_gate(SETTINGS, source, built(("unetxl", "vae")))
    quality = caught.value.details["quality"]
    print(f"int8 UNet + VAE: {quality['scores']}")
    assert quality["verdict"] == "Failed"
    assert quality["scores"]["ssim"] < default.report["scores"]["ssim"]
    assert "minSsim 0.95" in quality["message"] or "minPsnrDb 30.0" in quality["message"]
