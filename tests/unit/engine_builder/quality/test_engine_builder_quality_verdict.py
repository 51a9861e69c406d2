"""The gate's decisions: thresholds named in failures, NaN fails, adherence windows, the step curve, attempts."""

from __future__ import annotations

import pytest

from engine_builder.quality.verdict import (
    ImageScore,
    Scores,
    best_attempt,
    gate_failures,
    lowest_passing_steps,
    step_failures,
)
from engine_builder.quality_settings import QualityGateSettings, curve_step_counts

SETTINGS = QualityGateSettings(min_psnr_db=30, min_ssim=0.95, min_steps_ssim=0.8)


def image(psnr: float = 40.0, ssim: float = 0.99, finite: bool = True, adherence: float | None = None,
          reference: float | None = None, prompt: str = "a red circle") -> ImageScore:
    return ImageScore(prompt, 7, psnr, ssim, finite, adherence, reference)


def scores(*images: ImageScore, metric: str | None = None, steps: int = 30) -> Scores:
    return Scores(steps, images, metric)


def test_a_faithful_engine_passes():
    assert gate_failures(scores(image(), image(psnr=36, ssim=0.97)), SETTINGS) == []


def test_the_worst_image_decides_and_the_failure_names_score_threshold_and_prompt():
    failures = gate_failures(scores(image(), image(psnr=21.5, ssim=0.82, prompt="a blue square")), SETTINGS)
    assert failures == [
        "ssim 0.820 < minSsim 0.95 for 'a blue square' (seed 7)",
        "psnr 21.50 dB < minPsnrDb 30.0 for 'a blue square' (seed 7)",
    ]


def test_nan_or_inf_anywhere_fails_even_with_lenient_thresholds():
    lenient = QualityGateSettings(min_psnr_db=0, min_ssim=0)
    failures = gate_failures(scores(image(), image(finite=False, psnr=0, ssim=0)), lenient)
    assert len(failures) == 1 and failures[0].startswith("NaN or Inf in the image for 'a red circle'")


def test_no_scored_image_is_a_failure_not_a_pass():
    assert gate_failures(scores(), SETTINGS) == ["no image was scored"]


@pytest.mark.parametrize(("got", "reference", "fails"), [
    (31.75, 31.75, False),
    (31.70, 31.75, False),   # 0.16 % below: inside MLPerf's 0.2 % window
    (31.60, 31.75, True),    # 0.47 % below
    (32.50, 31.75, False),   # better than the reference is never a failure
])
def test_clip_score_is_judged_as_a_relative_drop_in_mlperfs_window(got, reference, fails):
    found = gate_failures(scores(image(adherence=got, reference=reference), metric="clip_score"), SETTINGS)
    assert bool(found) is fails
    if fails:
        assert "maxClipDropPercent 0.2" in found[0]


def test_a_scene_checker_is_judged_in_points():
    settings = QualityGateSettings(max_adherence_drop_points=10)
    ok = scores(image(adherence=70, reference=75), metric="scene_checker")
    bad = scores(image(adherence=50, reference=75), metric="scene_checker")
    assert gate_failures(ok, settings) == []
    assert "scene_checker 50.0 is 25.0 points below the reference's 75.0" in gate_failures(bad, settings)[0]


def test_fewer_steps_are_judged_by_min_steps_ssim_not_min_ssim():
    assert step_failures(scores(image(ssim=0.85, psnr=22), steps=10), SETTINGS) == []
    assert step_failures(scores(image(ssim=0.7), steps=5), SETTINGS) == ["ssim 0.700 < minStepsSsim 0.8"]


@pytest.mark.parametrize(("passed", "lowest"), [
    ({30: True, 20: True, 10: True}, 10),
    ({30: True, 20: True, 10: False, 5: True}, 20),  # a lucky pass below a failure does not count
    ({30: False, 20: True}, None),
    ({}, None),
])
def test_the_lowest_passing_step_count_is_monotone(passed, lowest):
    assert lowest_passing_steps(passed) == lowest


@pytest.mark.parametrize(("steps", "floor", "expected"), [
    (30, 20, (30, 27, 23, 20, 10, 5)),
    (30, None, (30, 25, 20, 15, 7, 3)),
    (4, 2, (4, 3, 2, 1)),
    (30, 40, (30, 15, 7)),  # a floor above the steps is clamped to them
])
def test_the_curve_spans_the_configured_steps_down_to_below_the_floor(steps, floor, expected):
    assert curve_step_counts(steps, floor) == expected


def test_the_best_passing_attempt_is_kept():
    failing = (scores(image(ssim=0.90)), ["ssim"])
    good = (scores(image(ssim=0.97)), [])
    better = (scores(image(ssim=0.99)), [])
    assert best_attempt([failing, good, better]) == 2
    assert best_attempt([failing, failing]) is None
