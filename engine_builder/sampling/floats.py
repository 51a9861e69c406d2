"""Single-precision arithmetic as torch's CPU kernels do it, for the numpy sampling code.

torch computes the SDXL schedulers and the noise in float32, and its x86 kernels are compiled with
FMA contraction (``a * b + c`` rounded once). numpy has no float32 fused multiply-add, so
:func:`fma32` builds one from float64: the product of two float32 values is exact in float64, the
sum's rounding error is recovered exactly (TwoSum), and a float32 tie is broken by that error, so
the result is the correctly rounded ``a * b + c``, bit for bit what the hardware FMA returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Float32Array = NDArray[np.float32]
#: float64 bits below float32's 24-bit significand: a float32 tie has exactly the top one set.
_DROPPED = np.uint64((1 << 29) - 1)
_HALF = np.uint64(1 << 28)


def f32(value: Any) -> np.float32:
    """A float32 scalar: every constant in the sampling code goes through here, so numpy 1's value-based
    casting and numpy 2's NEP 50 promotion give the same float32 arithmetic as torch."""
    return np.float32(value)


def as_f32(values: ArrayLike) -> Float32Array:
    """``values`` as a float32 array (a typed view of numpy's arithmetic results)."""
    return np.asarray(values, dtype=np.float32)


def fma32(a: ArrayLike, b: ArrayLike, c: ArrayLike) -> Float32Array:
    """``a * b + c`` on float32 values, rounded once (a fused multiply-add), broadcast like numpy.

    The float64 sum is rounded to float32 directly; only where it lands exactly on a float32 tie
    (rare) is its own rounding error recovered, to break the tie the way the exact value would.
    """
    a64, b64, c64 = (np.asarray(x, dtype=np.float32).astype(np.float64) for x in (a, b, c))
    product = a64 * b64  # exact: 24 + 24 significand bits fit in float64's 53
    total = np.asarray(product + c64)
    rounded = total.astype(np.float32)
    tie = (total.view(np.uint64) & _DROPPED) == _HALF
    if not tie.any():
        return rounded
    product, c64 = np.broadcast_to(product, total.shape), np.broadcast_to(c64, total.shape)
    p, c, t = product[tie], c64[tie], total[tie]
    virtual = t - p
    error = (p - (t - virtual)) + (c - virtual)  # t + error == p + c exactly (TwoSum)
    broken = np.where(error == 0, t, np.nextafter(t, np.where(error > 0, np.inf, -np.inf)))
    rounded[tie] = broken.astype(np.float32)
    return rounded
