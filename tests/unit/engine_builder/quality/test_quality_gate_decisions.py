"""The gate's decisions end to end over fake renderers: pass, fail, unavailable, disabled, recalibration.

The renderers are images made here (no model): the reference draws a fixed pattern per seed and a
candidate perturbs it by a known amount, so which threshold fails is known in advance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from engine_builder.cli import TERMINATION_LIMIT, emit
from engine_builder.errors import QualityGateFailedError, QualityGateUnavailableError
from engine_builder.quality.gate import Candidate, run_gate
from engine_builder.quality_settings import PromptCase, QualityGateSettings

SIZE = (32, 32)


def pattern(case: PromptCase, steps: int) -> np.ndarray:
    rng = np.random.default_rng(case.seed)
    base = rng.integers(40, 216, (SIZE[1] // 4, SIZE[0] // 4, 3)).repeat(4, 0).repeat(4, 1)
    return base.astype(np.uint8)


def make_reference(source: Path, size: tuple[int, int], guidance: float, device: str):
    return pattern


def noisy(sigma: float, nan: bool = False):
    def render(case: PromptCase, steps: int) -> np.ndarray:
        image = pattern(case, steps).astype(np.float64)
        image += np.random.default_rng(case.seed + steps).normal(0, sigma + (30 - steps), image.shape)
        if nan:
            image[0, 0, 0] = np.nan
            return image
        return np.clip(image, 0, 255).round().astype(np.uint8)

    return render


def candidate(by_unet: Mapping[str, float]) -> Candidate:
    """The UNet artefact's name decides how far the candidate strays from the reference."""
    return Candidate({"unetxl": Path("first")}, lambda paths: noisy(by_unet[paths["unetxl"].name]), SIZE)


SETTINGS = QualityGateSettings(min_psnr_db=30, min_ssim=0.95, min_steps_ssim=0.8, step_counts=(20, 10, 5))


def gate(settings: QualityGateSettings, cand: Candidate, **kw):
    return run_gate(settings, Path("source"), cand, make_reference=make_reference, **kw)


def test_a_faithful_candidate_passes_and_reports_scores_thresholds_prompts_and_the_curve():
    outcome = gate(SETTINGS, candidate({"first": 0.0}))
    report = outcome.report
    assert report["verdict"] == "Passed" and outcome.replaced == {}
    assert report["scores"]["ssim"] > 0.95 and report["scores"]["finite"] is True
    assert report["thresholds"]["minSsim"] == 0.95 and report["steps"] == 30
    assert report["prompts"][0] == "a red circle on a white background"
    assert [p["steps"] for p in report["curve"]] == [30, 20, 10, 5]
    # the fake strays by (30 - steps) grey levels: fewer steps cost quality until minStepsSsim fails
    assert report["curve"][0]["passed"] is True and report["curve"][-1]["passed"] is False
    assert report["lowestPassingSteps"] in (20, 10)
    assert len(outcome.full["images"]) == 4


def test_a_candidate_that_strays_fails_naming_score_and_threshold():
    with pytest.raises(QualityGateFailedError) as caught:
        gate(SETTINGS, candidate({"first": 40.0}))
    quality = caught.value.details["quality"]
    assert quality["verdict"] == "Failed"
    assert "< minSsim 0.95" in str(caught.value) and "< minPsnrDb 30.0" in str(caught.value)
    assert quality["curve"], "the curve is scored even when the gate fails: it shows why"


def test_nan_in_a_candidate_image_fails_the_gate():
    cand = Candidate({}, lambda paths: noisy(0.0, nan=True), SIZE)
    lenient = QualityGateSettings(min_psnr_db=0, min_ssim=0)
    with pytest.raises(QualityGateFailedError, match="NaN or Inf"):
        gate(lenient, cand)


def test_an_8bit_build_recalibrates_and_keeps_the_best_attempt_that_passes():
    calls = []

    def recalibrate(attempt: int) -> dict[str, Path]:
        calls.append(attempt)
        return {"unetxl": Path(f"attempt-{attempt}")}

    cand = candidate({"first": 40.0, "attempt-1": 2.0, "attempt-2": 0.5})
    outcome = gate(SETTINGS.model_copy(update={"calibration_attempts": 3}), cand, recalibrate=recalibrate)
    assert calls == [1, 2]
    assert outcome.replaced == {"unetxl": Path("attempt-2")}
    assert outcome.report["attempts"] == 3 and outcome.report["verdict"] == "Passed"


def test_when_no_attempt_passes_the_build_is_refused():
    cand = candidate({"first": 40.0, "attempt-1": 35.0})
    with pytest.raises(QualityGateFailedError):
        gate(SETTINGS.model_copy(update={"calibration_attempts": 2}), cand,
             recalibrate=lambda attempt: {"unetxl": Path(f"attempt-{attempt}")})


def test_an_empty_prompt_set_blocks_by_default_and_publishes_when_asked():
    empty = SETTINGS.model_copy(update={"prompts": ()})
    with pytest.raises(QualityGateUnavailableError, match="the prompt set is empty") as caught:
        gate(empty, candidate({"first": 0.0}))
    assert caught.value.details["quality"]["verdict"] == "Unavailable"
    outcome = gate(empty.model_copy(update={"on_unavailable": "Publish"}), candidate({"first": 0.0}))
    assert outcome.report["verdict"] == "Unavailable" and "empty" in outcome.report["message"]


def test_an_evaluation_that_crashes_is_unavailable_with_the_cause():
    def broken(paths):
        raise RuntimeError("ONNX Runtime: invalid model")

    with pytest.raises(QualityGateUnavailableError, match="the evaluation crashed: RuntimeError: ONNX Runtime"):
        gate(SETTINGS, Candidate({}, broken, SIZE))


def test_a_disabled_gate_scores_nothing():
    def never(paths):
        raise AssertionError("rendered")

    outcome = gate(SETTINGS.model_copy(update={"enabled": False}), Candidate({}, never, SIZE))
    assert outcome.report["verdict"] == "Disabled"


def test_the_failure_summary_fits_the_termination_message_with_a_large_prompt_set(tmp_path: Path):
    prompts = tuple({"prompt": f"{i} " + "a very long prompt about shapes " * 9, "seed": i} for i in range(16))
    with pytest.raises(QualityGateFailedError) as caught:
        gate(SETTINGS.model_copy(update={"prompts": prompts}), candidate({"first": 40.0}))
    log = tmp_path / "termination-log"
    log.write_text("")
    error = caught.value
    emit({"status": "failed", "error": error.kind, "message": str(error)[:1000], "seconds": 1.0, **error.details},
         log)
    written = log.read_text()
    assert len(written) <= TERMINATION_LIMIT
    summary = json.loads(written)  # whole, not cut off mid-JSON
    assert summary["error"] == "QualityGateFailed" and summary["quality"]["verdict"] == "Failed"
