"""PSNR and SSIM against values worked out by hand, and NaN/Inf detection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine_builder.quality.metrics import PSNR_CAP_DB, finite, psnr, ssim


def flat(value: float, size: int = 32) -> np.ndarray:
    return np.full((size, size, 3), value, np.float64)


def test_psnr_of_a_one_level_difference_is_20_log10_255():
    assert psnr(flat(101), flat(100)) == pytest.approx(20 * math.log10(255), abs=1e-9)


def test_identical_images_score_the_cap_and_one():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    assert psnr(image, image) == PSNR_CAP_DB
    assert ssim(image, image) == pytest.approx(1.0)


def test_ssim_of_two_flat_images_is_the_luminance_term():
    """No variance, no covariance: SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1) exactly (Wang et al. 2004)."""
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 140 + c1) / (100**2 + 140**2 + c1)
    assert ssim(flat(100), flat(140)) == pytest.approx(expected, rel=1e-9)


def test_unrelated_noise_scores_near_zero_and_mild_noise_stays_high():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (48, 48, 3)).astype(np.float64)
    other = rng.integers(0, 256, (48, 48, 3)).astype(np.float64)
    mild = np.clip(base + rng.normal(0, 3, base.shape), 0, 255)
    assert abs(ssim(base, other)) < 0.1
    assert ssim(base, mild) > 0.95
    assert psnr(base, mild) > psnr(base, other) + 20


def test_nan_and_inf_are_not_finite_and_score_zero():
    broken = flat(100)
    broken[3, 4, 1] = np.nan
    assert not finite(broken) and finite(flat(1))
    assert ssim(broken, flat(100)) == 0.0
    infinite = flat(100)
    infinite[0, 0, 0] = np.inf
    assert not finite(infinite)
    assert psnr(infinite, flat(100)) == 0.0


@pytest.mark.parametrize(("a", "b", "message"), [
    (np.zeros((8, 8, 3)), np.zeros((8, 9, 3)), "shapes differ"),
    (np.zeros((8, 8)), np.zeros((8, 8)), "expected \\[H, W, C\\]"),
    (np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), "too small"),
])
def test_bad_shapes_are_named(a, b, message):
    with pytest.raises(ValueError, match=message):
        ssim(a, b)
