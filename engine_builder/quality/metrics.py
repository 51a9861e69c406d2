"""Per-image agreement between a candidate and its reference: PSNR, SSIM, and "is every value finite".

SSIM is written here with scipy's Gaussian filter rather than taken from scikit-image: it is the one
function we would use from that package (and its dependency tree), and the formula is short and
published. It follows Wang et al. 2004 as scikit-image computes it with ``gaussian_weights=True``
(sigma 1.5, K1 0.01, K2 0.03, population covariance, data range 255, mean over channels of the
mean over the valid interior), which is also what most diffusion papers report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: uint8 images: the largest possible difference (PSNR's and SSIM's data range).
DATA_RANGE = 255.0
#: PSNR of two identical images is infinite; reports cap it so they stay JSON numbers.
PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
#: scikit-image truncates the Gaussian at 3.5 sigma; the window is 2 * round(3.5 * 1.5) + 1 = 11 wide.
SSIM_TRUNCATE = 3.5


def finite(image: NDArray[Any]) -> bool:
    """False when any value is NaN or +-Inf (a broken engine's output; it fails the gate at once)."""
    return bool(np.isfinite(np.asarray(image, dtype=np.float64)).all())


def _checked(candidate: NDArray[Any], reference: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if candidate.shape != reference.shape:
        raise ValueError(f"image shapes differ: {candidate.shape} vs {reference.shape}")
    if candidate.ndim != 3:
        raise ValueError(f"expected [H, W, C] images, got shape {candidate.shape}")
    return candidate.astype(np.float64), reference.astype(np.float64)


def psnr(candidate: NDArray[Any], reference: NDArray[Any]) -> float:
    """Peak signal-to-noise ratio in dB over uint8-range images (capped at :data:`PSNR_CAP_DB`)."""
    a, b = _checked(candidate, reference)
    mse = float(np.mean((a - b) ** 2))
    if not np.isfinite(mse):
        return 0.0
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * float(np.log10(DATA_RANGE**2 / mse)))


def ssim(candidate: NDArray[Any], reference: NDArray[Any]) -> float:
    """Mean structural similarity (1 = identical, ~0 = unrelated), Gaussian-weighted, per channel."""
    from scipy.ndimage import gaussian_filter

    a, b = _checked(candidate, reference)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return 0.0
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    if min(a.shape[0], a.shape[1]) <= 2 * radius:
        raise ValueError(f"images of {a.shape[1]}x{a.shape[0]} are too small for an {2 * radius + 1}px SSIM window")

    def blur(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(gaussian_filter(x, sigma=SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect"))

    values = []
    for channel in range(a.shape[2]):
        x, y = a[..., channel], b[..., channel]
        mx, my = blur(x), blur(y)
        vx = blur(x * x) - mx * mx
        vy = blur(y * y) - my * my
        cov = blur(x * y) - mx * my
        index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        values.append(float(index[radius:-radius, radius:-radius].mean()))  # skimage drops the padded border
    return float(np.mean(values))
