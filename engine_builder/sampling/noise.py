"""Seeded Gaussian noise equal to torch's CPU ``torch.randn(shape, generator=g)``, without torch.

A request's seed must keep its image when the serving image drops torch (3.5 GiB), so this mirrors
torch's algorithm rather than using numpy's own normal sampler: ``torch.Generator().manual_seed(s)``
seeds an mt19937 with ``s & 0xffffffff`` (``init_genrand``, which numpy's legacy ``RandomState``
seeding also is), each float32 uniform is ``(next32 & (2**24 - 1)) / 2**24``, and ``normal_fill``
turns blocks of 16 uniforms into normals (:mod:`.boxmuller`); when the size is not a multiple of
16 the last 16 values are recomputed from 16 fresh uniforms. Successive draws continue one stream,
as torch's do (euler_a and inpainting draw several times from one generator).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .boxmuller import normal_fill_16
from .floats import Float32Array

SEED_MASK = 0xFFFFFFFF
_STATE_WORDS = 624
#: torch draws tensors below 16 values one normal at a time (another algorithm, with a cached spare).
MIN_NOISE_SIZE = 16
_UNIFORM_MASK = np.uint64(2**24 - 1)
_UNIFORM_SCALE = np.float32(2.0**-24)


def init_genrand(seed: int) -> NDArray[np.uint32]:
    """mt19937's state after ``init_genrand(seed & 0xffffffff)``: what ``at::mt19937(seed)`` does with a
    64-bit seed (torch keeps its low 32 bits), and numpy's legacy ``RandomState(seed)`` seeding."""
    key = [seed & SEED_MASK]
    for index in range(1, _STATE_WORDS):
        previous = key[-1]
        key.append((1812433253 * (previous ^ (previous >> 30)) + index) & SEED_MASK)
    return np.array(key, dtype=np.uint32)


class NoiseSizeError(ValueError):
    """A tensor too small for torch's block sampler; the latents are always larger."""


class TorchGenerator:
    """``torch.Generator().manual_seed(seed)`` on the CPU: the mt19937 stream and ``randn`` over it."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._bits = np.random.MT19937()
        self._bits.state = {"bit_generator": "MT19937", "state": {"key": init_genrand(seed), "pos": _STATE_WORDS}}

    def uniforms(self, count: int) -> Float32Array:
        """The next ``count`` float32 uniforms in [0, 1), as ``at::uniform_real_distribution<float>``."""
        raw = np.asarray(self._bits.random_raw(count), dtype=np.uint64)
        return (raw & _UNIFORM_MASK).astype(np.float32) * _UNIFORM_SCALE

    def randn(self, shape: Sequence[int]) -> Float32Array:
        """``torch.randn(shape, generator=self, dtype=torch.float32)`` for at least 16 values."""
        size = math.prod(shape)
        if size < MIN_NOISE_SIZE:
            raise NoiseSizeError(
                f"randn{tuple(shape)}: {size} values; torch samples fewer than {MIN_NOISE_SIZE} with another "
                "algorithm that this generator does not reproduce"
            )
        data = self.uniforms(size)
        full = size - size % 16
        data[:full] = normal_fill_16(data[:full])
        if size % 16:
            data[size - 16:] = normal_fill_16(self.uniforms(16))
        return data.reshape(tuple(shape))


Generators = TorchGenerator | Sequence[TorchGenerator]


def randn_tensor(shape: Sequence[int], generator: Generators) -> Float32Array:
    """diffusers' ``randn_tensor`` on the CPU: one generator draws the whole tensor; a list draws one
    row per generator (so each request of a batch keeps its own stream) and concatenates them."""
    if isinstance(generator, TorchGenerator):
        return generator.randn(shape)
    if len(generator) == 1:
        return generator[0].randn(shape)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
    row = (1, *shape[1:])
    return np.concatenate([g.randn(row) for g in generator])
