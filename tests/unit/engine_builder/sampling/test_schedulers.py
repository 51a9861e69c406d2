"""The numpy schedulers step like diffusers' on the same model outputs, and refuse what they do not implement.

Not bit for bit: torch takes float32 square roots, logs and exponentials from MKL's VML (HA mode,
measured up to 0.75 ulp off), where numpy rounds correctly, so about one sigma in six differs by an
ulp. Every step is held to 1e-6 of the run's largest value (1e-6 of a 14.6-sigma noise is ~8 ulps);
measured on random model outputs, worst over spacings and step counts: euler 2.5e-7, euler_a 2.7e-7,
ddim 6.6e-7, dpmpp_2m 9.5e-7 and 1.24e-6 with Heun and ``sigma_min`` (its x0 prediction divides by
alpha_t, up to x14.6, so its bound is 1.5e-6).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from engine_builder import tiny
from engine_builder.pipeline import SCHEDULERS
from engine_builder.sampling import SchedulerConfigError, TorchGenerator, from_config
from engine_builder.sampling.config import DEFAULTS, class_config
from engine_builder.sampling.schedule import alphas_cumprod, betas
from tests.builder_extra import builder_module

CLASSES = list(SCHEDULERS.values())
SDXL = tiny.scheduler_config()
SHAPE = (2, 4, 8, 6)
RELATIVE = {"DPMSolverMultistepScheduler": 1.5e-6}
#: Other settings the numpy schedulers implement, each run against diffusers too.
VARIANTS = [
    ("EulerDiscreteScheduler", {"prediction_type": "v_prediction", "final_sigmas_type": "sigma_min"}),
    ("EulerDiscreteScheduler", {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}),
    ("EulerDiscreteScheduler", {"timestep_type": "continuous"}),
    ("EulerAncestralDiscreteScheduler", {"prediction_type": "v_prediction", "beta_schedule": "squaredcos_cap_v2"}),
    ("DDIMScheduler", {"clip_sample": False, "set_alpha_to_one": False}),
    ("DDIMScheduler", {"prediction_type": "v_prediction", "clip_sample_range": 2.0}),
    ("DDIMScheduler", {"prediction_type": "sample"}),
    ("DPMSolverMultistepScheduler", {"solver_type": "heun", "final_sigmas_type": "sigma_min"}),
    ("DPMSolverMultistepScheduler", {"solver_order": 1, "prediction_type": "v_prediction"}),
    ("DPMSolverMultistepScheduler", {"lower_order_final": False, "euler_at_final": True}),
    ("DPMSolverMultistepScheduler", {"trained_betas": list(np.linspace(0.001, 0.02, 1000))}),
]


def run_both(class_name: str, config: dict[str, Any], steps: int) -> float:
    """Both schedulers through ``steps`` steps on the same random model outputs; the worst step's
    difference over the run's largest value (scaled inputs and samples alike). Exact parts are asserted."""
    torch = builder_module("torch", "compares with diffusers' schedulers")
    diffusers = builder_module("diffusers", "compares with diffusers' schedulers")
    reference = getattr(diffusers, class_name).from_config(config)
    ours = from_config(class_name, config)
    reference.set_timesteps(steps)
    ours.set_timesteps(steps)
    np.testing.assert_array_equal(ours.timesteps, reference.timesteps.numpy(), strict=True)
    if hasattr(reference, "sigmas"):
        np.testing.assert_array_max_ulp(ours.sigmas, reference.sigmas.numpy(), maxulp=1)
    generator, torch_generator = TorchGenerator(5), torch.Generator().manual_seed(5)
    sample = generator.randn(SHAPE) * ours.init_noise_sigma
    expected = torch.randn(SHAPE, generator=torch_generator) * reference.init_noise_sigma
    np.testing.assert_allclose(sample, expected.numpy(), rtol=2e-7)
    outputs = np.random.default_rng(steps)
    scale, worst = float(np.abs(sample).max()), 0.0
    for t_ours, t_reference in zip(ours.timesteps, reference.timesteps, strict=True):
        model_output = outputs.standard_normal(SHAPE).astype(np.float32)
        scaled = ours.scale_model_input(sample, t_ours)
        scaled_expected = reference.scale_model_input(expected, t_reference).numpy()
        sample = ours.step(model_output, t_ours, sample, generator)
        expected = reference.step(torch.from_numpy(model_output), t_reference, expected, generator=torch_generator,
                                  return_dict=False)[0]
        assert sample.dtype == np.float32 and sample.shape == SHAPE
        scale = max(scale, float(np.abs(expected).max()))
        worst = max(worst, float(np.abs(scaled - scaled_expected).max()) / scale,
                    float(np.abs(sample - expected.numpy()).max()) / scale)
    return worst


@pytest.mark.parametrize("class_name", CLASSES)
@pytest.mark.parametrize("spacing", ["leading", "linspace", "trailing"])
@pytest.mark.parametrize("steps", [1, 2, 4, 30])
def test_every_step_matches_diffusers_on_sdxl_s_config(class_name: str, spacing: str, steps: int):
    worst = run_both(class_name, {**SDXL, "timestep_spacing": spacing}, steps)
    assert worst <= RELATIVE.get(class_name, 1e-6), f"{class_name}: {worst:.3g} of the run's scale"


@pytest.mark.parametrize(("class_name", "options"), VARIANTS)
@pytest.mark.parametrize("steps", [3, 30])
def test_other_supported_settings_match_diffusers_too(class_name: str, options: dict[str, Any], steps: int):
    worst = run_both(class_name, {**SDXL, **options}, steps)
    assert worst <= RELATIVE.get(class_name, 1e-6), f"{class_name} {options}: {worst:.3g} of the run's scale"


@pytest.mark.parametrize("class_name", CLASSES)
def test_the_training_schedule_is_diffusers_bit_for_bit(class_name: str):
    diffusers = builder_module("diffusers", "compares with diffusers' schedulers")
    for schedule in ("scaled_linear", "linear", "squaredcos_cap_v2"):
        config = {**SDXL, "beta_schedule": schedule}
        reference = getattr(diffusers, class_name).from_config(config)
        settings = class_config(class_name, config)
        np.testing.assert_array_equal(betas(settings), reference.betas.numpy(), strict=True)
        np.testing.assert_array_equal(alphas_cumprod(settings), reference.alphas_cumprod.numpy(), strict=True)


@pytest.mark.parametrize("class_name", CLASSES)
def test_each_scheduler_reads_diffusers_own_defaults(class_name: str):
    diffusers = builder_module("diffusers", "reads diffusers' scheduler signatures")
    parameters = inspect.signature(getattr(diffusers, class_name).__init__).parameters
    assert DEFAULTS[class_name] == {name: p.default for name, p in parameters.items() if name != "self"}


def test_a_setting_only_another_class_reads_is_ignored_as_diffusers_ignores_it():
    config = {**SDXL, "use_karras_sigmas": True}
    assert from_config("EulerAncestralDiscreteScheduler", config) is not None  # it has no Karras option
    with pytest.raises(SchedulerConfigError):
        from_config("EulerDiscreteScheduler", config)


def test_ddim_without_the_key_clips_x0_as_diffusers_default_does():
    assert class_config("DDIMScheduler", SDXL)["clip_sample"] is True
    assert class_config("DDIMScheduler", SDXL)["set_alpha_to_one"] is True


@pytest.mark.parametrize(
    ("class_name", "key", "value"),
    [
        ("EulerDiscreteScheduler", "use_karras_sigmas", True),
        ("EulerDiscreteScheduler", "interpolation_type", "log_linear"),
        ("EulerDiscreteScheduler", "rescale_betas_zero_snr", True),
        ("EulerAncestralDiscreteScheduler", "prediction_type", "sample"),
        ("DDIMScheduler", "thresholding", True),
        ("DDIMScheduler", "beta_schedule", "laplace"),
        ("DPMSolverMultistepScheduler", "algorithm_type", "sde-dpmsolver++"),
        ("DPMSolverMultistepScheduler", "solver_order", 3),
        ("DPMSolverMultistepScheduler", "use_lu_lambdas", True),
        ("DPMSolverMultistepScheduler", "lambda_min_clipped", -5.1),
        ("DPMSolverMultistepScheduler", "timestep_spacing", "karras"),
    ],
)
def test_an_unsupported_setting_is_refused_naming_the_key_and_value(class_name: str, key: str, value: Any):
    with pytest.raises(SchedulerConfigError) as refused:
        from_config(class_name, {**SDXL, key: value})
    assert str(refused.value) == (
        f"scheduler_config.json: {key}={value!r} is not supported by the serving image's numpy schedulers "
        "(euler, euler_a, ddim, dpmpp_2m)"
    )


def test_every_request_scheduler_builds_from_sdxl_s_config():
    for class_name in CLASSES:
        scheduler = from_config(class_name, SDXL)
        scheduler.set_timesteps(4)
        assert len(scheduler.timesteps) == 4
