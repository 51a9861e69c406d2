"""The numpy generator draws torch's CPU noise: same seed, same stream, same values."""

from __future__ import annotations

import numpy as np
import pytest

from engine_builder.sampling.floats import fma32
from engine_builder.sampling.noise import NoiseSizeError, TorchGenerator, init_genrand, randn_tensor
from tests.builder_extra import builder_module

SEEDS = [0, 1, 42, 2**31 - 1, 2**32, 2**32 + 7, 2**40 + 5, 2**63 - 1]
#: Latents of several sizes, and sizes that are not a multiple of 16 (torch recomputes the last 16).
SHAPES = [(16,), (17,), (1, 4, 8, 8), (1, 4, 12, 8), (2, 4, 33, 7), (1, 4, 128, 128)]


def torch_tolerance(torch: object) -> float:
    """0 where torch runs its AVX2 Box-Muller kernel (what this generator reproduces); elsewhere
    (AVX-512, or ``ATEN_CPU_CAPABILITY=default``) torch takes a scalar libm path whose values differ in
    the last float32 bits: measured at most 2.3e-6 (5 ulps of a 4-sigma value) over 4M draws."""
    capability = torch.backends.cpu.get_cpu_capability()  # type: ignore[attr-defined]
    return 0.0 if capability == "AVX2" else 5e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_successive_draws_equal_torch_randn_on_one_generator(seed: int):
    torch = builder_module("torch", "compares with torch's CPU generator")
    tolerance = torch_tolerance(torch)
    reference, ours = torch.Generator().manual_seed(seed), TorchGenerator(seed)
    for shape in SHAPES + SHAPES[::-1]:  # one stream: every draw continues where the last stopped
        expected = torch.randn(shape, generator=reference, dtype=torch.float32).numpy()
        got = ours.randn(shape)
        assert got.shape == expected.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)


def test_a_seed_keeps_only_its_low_32_bits_as_torch_does():
    assert np.array_equal(TorchGenerator(2**32 + 7).randn((64,)), TorchGenerator(7).randn((64,)))
    assert not np.array_equal(TorchGenerator(8).randn((64,)), TorchGenerator(7).randn((64,)))


def test_the_seeding_is_mt19937_init_genrand_as_numpy_legacy_seeding():
    for seed in (0, 5489, 2**32 - 1):
        np.testing.assert_array_equal(init_genrand(seed), np.random.RandomState(seed).get_state()[1])


def test_a_batch_draws_one_row_per_generator_like_diffusers_randn_tensor():
    torch = builder_module("torch", "compares with diffusers' randn_tensor")
    utils = builder_module("diffusers.utils.torch_utils", "compares with diffusers' randn_tensor")
    tolerance = torch_tolerance(torch)
    seeds = [3, 4, 5]
    expected = utils.randn_tensor((3, 4, 8, 6), generator=[torch.Generator().manual_seed(s) for s in seeds])
    got = randn_tensor((3, 4, 8, 6), [TorchGenerator(s) for s in seeds])
    np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=tolerance)
    np.testing.assert_array_equal(randn_tensor((1, 4, 8, 6), [TorchGenerator(3)]), got[:1])


def test_fewer_than_16_values_are_refused_not_drawn_differently():
    with pytest.raises(NoiseSizeError, match=r"15 values.*fewer than 16"):
        TorchGenerator(1).randn((3, 5))


def test_the_fused_multiply_add_rounds_once_where_float64_would_round_twice():
    a = np.float32(1 + 2**-12)  # a * a = 1 + 2**-11 + 2**-24: exactly halfway between two float32 values
    tiny = np.float32(2**-80)  # lost in a float64 sum, but it decides the float32 rounding
    assert fma32(a, a, tiny) == np.float32(1 + 2**-11 + 2**-23)
    assert fma32(a, a, -tiny) == np.float32(1 + 2**-11)
    assert fma32(a, a, np.float32(0)) == np.float32(1 + 2**-11)  # a true tie rounds to even
