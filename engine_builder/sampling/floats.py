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
    """``a * b + c`` on float32 values, rounded once (a fused multiply-add), broadcast like numpy."""
    a64, b64, c64 = (np.asarray(x, dtype=np.float32).astype(np.float64) for x in (a, b, c))
    product = a64 * b64  # exact: 24 + 24 significand bits fit in float64's 53
    total = product + c64
    virtual = total - product
    error = (product - (total - virtual)) + (c64 - virtual)  # total + error == product + c64 exactly
    tie = (np.asarray(total).view(np.uint64) & _DROPPED) == _HALF
    toward = np.where(error > 0, np.inf, -np.inf)
    exact = np.where(tie & (error != 0), np.nextafter(total, toward), total)
    return as_f32(exact)
