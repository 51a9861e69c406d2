"""Which ``scheduler_config.json`` settings each numpy scheduler reads, with diffusers' defaults, and
which values it refuses.

diffusers' ``<Scheduler>.from_config(config)`` passes each class only the keys of its ``__init__``
(the others are ignored) and fills the missing ones with that signature's defaults: a DDIM built
from SDXL base's Euler config clips its x0 prediction because ``clip_sample`` defaults to True.
:data:`DEFAULTS` copies those signatures (diffusers 0.42.1; a unit test compares them) so the numpy
schedulers see exactly the values diffusers' would. A value they do not implement (Karras sigmas,
thresholding, another algorithm...) is refused by name rather than silently sampled otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SCHEDULER_NAMES = "euler, euler_a, ddim, dpmpp_2m"

_BETAS = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
}
_EULER_SIGMAS = {
    "use_karras_sigmas": False,
    "use_exponential_sigmas": False,
    "use_beta_sigmas": False,
}
_THRESHOLDING = {"thresholding": False, "dynamic_thresholding_ratio": 0.995}

#: diffusers 0.42.1's ``__init__`` defaults, by class name.
DEFAULTS: dict[str, dict[str, Any]] = {
    "EulerDiscreteScheduler": {
        **_BETAS, "prediction_type": "epsilon", "interpolation_type": "linear", **_EULER_SIGMAS,
        "sigma_min": None, "sigma_max": None, "timestep_spacing": "linspace", "timestep_type": "discrete",
        "steps_offset": 0, "rescale_betas_zero_snr": False, "final_sigmas_type": "zero",
    },
    "EulerAncestralDiscreteScheduler": {
        **_BETAS, "prediction_type": "epsilon", "timestep_spacing": "linspace", "steps_offset": 0,
        "rescale_betas_zero_snr": False,
    },
    "DDIMScheduler": {
        **_BETAS, "clip_sample": True, "set_alpha_to_one": True, "steps_offset": 0, "prediction_type": "epsilon",
        **_THRESHOLDING, "clip_sample_range": 1.0, "sample_max_value": 1.0, "timestep_spacing": "leading",
        "rescale_betas_zero_snr": False,
    },
    "DPMSolverMultistepScheduler": {
        **_BETAS, "solver_order": 2, "prediction_type": "epsilon", **_THRESHOLDING, "sample_max_value": 1.0,
        "algorithm_type": "dpmsolver++", "solver_type": "midpoint", "lower_order_final": True,
        "euler_at_final": False, **_EULER_SIGMAS, "use_lu_lambdas": False, "use_flow_sigmas": False,
        "flow_shift": 1.0, "final_sigmas_type": "zero", "lambda_min_clipped": -math.inf, "variance_type": None,
        "timestep_spacing": "linspace", "steps_offset": 0, "rescale_betas_zero_snr": False,
        "use_dynamic_shifting": False, "time_shift_type": "exponential",
    },
}

_SPACINGS = ("linspace", "leading", "trailing")
_COMMON = {
    "beta_schedule": ("linear", "scaled_linear", "squaredcos_cap_v2"),
    "timestep_spacing": _SPACINGS,
    "rescale_betas_zero_snr": (False,),
}
#: The values each numpy scheduler implements; a key not listed takes any value (it changes nothing
#: here, e.g. ``sigma_min`` without Karras sigmas, or is plain data such as ``beta_start``).
SUPPORTED: dict[str, dict[str, tuple[Any, ...]]] = {
    "EulerDiscreteScheduler": {
        **_COMMON,
        "prediction_type": ("epsilon", "v_prediction", "sample", "original_sample"),
        "interpolation_type": ("linear",),
        **{key: (False,) for key in _EULER_SIGMAS},
        "timestep_type": ("discrete", "continuous"),
        "final_sigmas_type": ("zero", "sigma_min"),
    },
    "EulerAncestralDiscreteScheduler": {**_COMMON, "prediction_type": ("epsilon", "v_prediction")},
    "DDIMScheduler": {**_COMMON, "prediction_type": ("epsilon", "sample", "v_prediction"), "thresholding": (False,)},
    "DPMSolverMultistepScheduler": {
        **_COMMON,
        "solver_order": (1, 2),
        "prediction_type": ("epsilon", "sample", "v_prediction"),
        "thresholding": (False,),
        # diffusers maps the deprecated "deis" to dpmsolver++ (and logrho/bh1/bh2 to midpoint).
        "algorithm_type": ("dpmsolver++", "deis"),
        "solver_type": ("midpoint", "heun", "logrho", "bh1", "bh2"),
        **{key: (False,) for key in (*_EULER_SIGMAS, "use_lu_lambdas", "use_flow_sigmas")},
        "final_sigmas_type": ("zero", "sigma_min"),
        "lambda_min_clipped": (-math.inf,),
        "variance_type": (None,),
    },
}


class SchedulerConfigError(ValueError):
    """``scheduler_config.json`` asks for something the numpy schedulers do not implement."""


def refusal(key: str, value: Any) -> SchedulerConfigError:
    return SchedulerConfigError(
        f"scheduler_config.json: {key}={value!r} is not supported by the serving image's numpy schedulers "
        f"({SCHEDULER_NAMES})"
    )


def class_config(class_name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The settings diffusers' ``class_name.from_config(raw)`` would use, each checked against
    :data:`SUPPORTED`; raises :class:`SchedulerConfigError` naming the first unsupported one."""
    if class_name not in DEFAULTS:
        raise SchedulerConfigError(f"{class_name}: not one of the numpy schedulers ({SCHEDULER_NAMES})")
    config = {key: raw.get(key, default) for key, default in DEFAULTS[class_name].items()}
    for key, allowed in SUPPORTED[class_name].items():
        if not any(_same(config[key], value) for value in allowed):
            raise refusal(key, config[key])
    if config.get("timestep_type") == "continuous" and config["prediction_type"] == "v_prediction":
        raise refusal("timestep_type", "continuous (with prediction_type='v_prediction')")
    return config


def _same(value: Any, allowed: Any) -> bool:
    """Equal and of the same kind: ``solver_order`` 1 is not ``True``, ``-inf`` equals ``-inf``."""
    return value == allowed and isinstance(value, bool) == isinstance(allowed, bool)
