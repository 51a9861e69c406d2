"""The parity bound per precision (``engine_builder.parity.compare``): strict for float exports, and
for 8-bit components only what a wrong graph would show, since the quality gate owns quality."""

from __future__ import annotations

import numpy as np
import pytest

from engine_builder.errors import ParityError
from engine_builder.parity import compare

SHAPE = (1, 32, 32)


def off_by(fraction: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A reference whose largest value is 2.0 and a candidate that misses it by ``fraction`` of that."""
    reference = np.linspace(-1.0, 2.0, 64, dtype=np.float64).reshape(1, 64)
    candidate = reference.copy()
    candidate[0, -1] += 2.0 * fraction
    return {"latent": reference}, {"latent": candidate.astype(np.float32)}


@pytest.mark.parametrize(("precision", "fraction", "ok"), [
    ("float32", 1e-4, True),    # float kernels: a few ulps of accumulated rounding
    ("float32", 0.01, False),   # a float export 1 % off computes something else
    ("int8", 0.18, True),       # CLIP-L's measured int8 deviation: the gate judges what it costs
    ("int8", 0.13, True),       # the VAE decoder's (it then fails the gate: SSIM 0.86 < 0.95)
    ("int8", 0.9, False),       # a wrong graph: an error the size of the output itself
    ("fp8", 0.9, False),
])
def test_the_bound_separates_rounding_from_a_wrong_graph(precision, fraction, ok):
    expected, actual = off_by(fraction)
    assert compare("vae", SHAPE, expected, actual, precision).ok is ok


def test_a_shape_change_fails_whatever_the_precision():
    expected, _ = off_by(0.0)
    with pytest.raises(ParityError, match="ORT shape"):
        compare("vae", SHAPE, expected, {"latent": np.zeros((1, 65), np.float32)}, "int8")
