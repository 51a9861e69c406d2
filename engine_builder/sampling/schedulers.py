"""numpy versions of the four diffusers schedulers the serving pipelines offer.

Why by hand: diffusers' schedulers need torch, and the serving image drops torch (3.5 GiB) now that
its models run on ONNX Runtime or TensorRT. Each class mirrors its diffusers 0.42.1 counterpart for
the settings :mod:`.config` accepts, operation for operation in float32, so a request gives the
image it gave before. Equal to float32 rounding, not bit for bit: torch takes float32 square roots,
logs and exponentials from MKL's VML, which is not correctly rounded (up to 0.75 ulp), and numpy's
are; the unit tests bound the difference at every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from . import schedule
from .config import class_config
from .floats import Float32Array, as_f32, f32
from .noise import Generators, randn_tensor


class Scheduler(Protocol):
    """What the pipelines use of a diffusers scheduler; ``step`` returns the previous sample."""

    timesteps: NDArray[Any]

    @property
    def init_noise_sigma(self) -> np.float32: ...

    def set_timesteps(self, steps: int) -> None: ...

    def set_begin_index(self, begin_index: int = 0) -> None: ...

    def scale_model_input(self, sample: Float32Array, timestep: Any) -> Float32Array: ...

    def step(self, model_output: Float32Array, timestep: Any, sample: Float32Array,
             generator: Generators | None = None) -> Float32Array: ...


def _log(value: np.float32) -> np.float32:
    """float32 log (log 0 = -inf, as torch's). Correctly rounded, where torch's (MKL's) may be an ulp off."""
    with np.errstate(divide="ignore"):
        return f32(np.log(np.float64(value)))


def _exp(value: np.float32) -> np.float32:
    return f32(np.exp(np.float64(value)))


class _Indexed:
    """The step counter of the sigma schedulers: found from the first timestep, or set by ``set_begin_index``."""

    timesteps: NDArray[Any]
    _step_index: int | None = None
    _begin_index: int | None = None

    def set_begin_index(self, begin_index: int = 0) -> None:
        self._begin_index = begin_index

    def _index_for_timestep(self, timestep: Any) -> int:
        """The first step's index; the second match when a timestep repeats (as diffusers, for img2img)."""
        matches = np.nonzero(self.timesteps == timestep)[0]
        return int(matches[1] if len(matches) > 1 else matches[0])

    def _index(self, timestep: Any) -> int:
        if self._step_index is None:
            self._step_index = self._begin_index if self._begin_index is not None else self._index_for_timestep(
                timestep)
        return self._step_index

    def _reset(self) -> None:
        self._step_index = self._begin_index = None


class _Sigmas(_Indexed):
    """What Euler and Euler ancestral share: sigmas, input scaling and the initial noise scale."""

    sigmas: Float32Array

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.alphas_cumprod = schedule.alphas_cumprod(config)
        self.timesteps = np.zeros(0, dtype=np.float32)
        self.sigmas = np.zeros(1, dtype=np.float32)

    @property
    def init_noise_sigma(self) -> np.float32:
        top = f32(self.sigmas.max())
        if self.config["timestep_spacing"] in ("linspace", "trailing"):
            return top
        return f32(np.sqrt(top * top + f32(1)))

    def scale_model_input(self, sample: Float32Array, timestep: Any) -> Float32Array:
        sigma = self.sigmas[self._index(timestep)]
        return as_f32(sample / np.sqrt(sigma * sigma + f32(1)))

    def _v_prediction(self, model_output: Float32Array, sample: Float32Array, sigma: np.float32) -> Float32Array:
        return as_f32(model_output * (-sigma / np.sqrt(sigma * sigma + f32(1))) + (sample / (sigma * sigma + f32(1))))


class EulerDiscrete(_Sigmas):
    """``EulerDiscreteScheduler`` (no churn: ``s_churn`` is 0 in the pipelines, so no noise is drawn)."""

    def set_timesteps(self, steps: int) -> None:
        timesteps = schedule.sigma_timesteps(self.config, steps)
        last = schedule.final_sigma(self.config, self.alphas_cumprod)
        self.sigmas = schedule.step_sigmas(timesteps, self.alphas_cumprod, last)
        self.timesteps = timesteps
        self._reset()

    def step(self, model_output: Float32Array, timestep: Any, sample: Float32Array,
             generator: Generators | None = None) -> Float32Array:
        index = self._index(timestep)
        sample = sample.astype(np.float32)
        sigma = self.sigmas[index]
        sigma_hat = sigma * f32(1.0)  # gamma = 0
        prediction = self.config["prediction_type"]
        if prediction == "epsilon":
            original = sample - sigma_hat * model_output
        elif prediction == "v_prediction":
            original = self._v_prediction(model_output, sample, sigma)
        else:
            original = model_output
        derivative = (sample - original) / sigma_hat
        previous = sample + derivative * (self.sigmas[index + 1] - sigma_hat)
        self._step_index = index + 1
        return as_f32(previous)


class EulerAncestralDiscrete(_Sigmas):
    """``EulerAncestralDiscreteScheduler``: every step adds fresh noise from the request's generator."""

    def set_timesteps(self, steps: int) -> None:
        timesteps = schedule.sigma_timesteps(self.config, steps)
        self.sigmas = schedule.step_sigmas(timesteps, self.alphas_cumprod, 0.0)
        self.timesteps = timesteps
        self._reset()

    def step(self, model_output: Float32Array, timestep: Any, sample: Float32Array,
             generator: Generators | None = None) -> Float32Array:
        if generator is None:
            raise ValueError("euler_a draws noise at every step: pass the request's generator")
        index = self._index(timestep)
        sigma = self.sigmas[index]
        sample = sample.astype(np.float32)
        if self.config["prediction_type"] == "epsilon":
            original = sample - sigma * model_output
        else:
            original = self._v_prediction(model_output, sample, sigma)
        sigma_to = self.sigmas[index + 1]
        to_squared, from_squared = sigma_to * sigma_to, sigma * sigma
        sigma_up = np.sqrt(to_squared * (from_squared - to_squared) / from_squared)
        sigma_down = np.sqrt(to_squared - sigma_up * sigma_up)
        derivative = (sample - original) / sigma
        previous = sample + derivative * (sigma_down - sigma)
        noise = randn_tensor(model_output.shape, generator)  # drawn even at the last step, as diffusers
        self._step_index = index + 1
        return as_f32(previous + noise * sigma_up)


class DDIM:
    """``DDIMScheduler`` with ``eta=0`` (deterministic: no noise is drawn)."""

    init_noise_sigma = f32(1.0)

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.alphas_cumprod = schedule.alphas_cumprod(config)
        self.final_alpha_cumprod = f32(1.0) if config["set_alpha_to_one"] else self.alphas_cumprod[0]
        self.timesteps: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.num_inference_steps = 0

    def set_timesteps(self, steps: int) -> None:
        self.timesteps = schedule.ddim_timesteps(self.config, steps)
        self.num_inference_steps = steps

    def set_begin_index(self, begin_index: int = 0) -> None:
        """DDIM has no step counter (diffusers' has no such method); kept for one scheduler interface."""

    def scale_model_input(self, sample: Float32Array, timestep: Any) -> Float32Array:
        return sample

    def step(self, model_output: Float32Array, timestep: Any, sample: Float32Array,
             generator: Generators | None = None) -> Float32Array:
        if not self.num_inference_steps:
            raise ValueError("call set_timesteps before step")
        t = int(timestep)
        previous_t = t - int(self.config["num_train_timesteps"]) // self.num_inference_steps
        alpha = self.alphas_cumprod[t]
        alpha_prev = self.alphas_cumprod[previous_t] if previous_t >= 0 else self.final_alpha_cumprod
        beta = f32(1) - alpha
        prediction = self.config["prediction_type"]
        if prediction == "epsilon":
            original = (sample - np.sqrt(beta) * model_output) / np.sqrt(alpha)
            epsilon = model_output
        elif prediction == "sample":
            original = model_output
            epsilon = (sample - np.sqrt(alpha) * original) / np.sqrt(beta)
        else:
            original = np.sqrt(alpha) * sample - np.sqrt(beta) * model_output
            epsilon = np.sqrt(alpha) * model_output + np.sqrt(beta) * sample
        if self.config["clip_sample"]:
            bound = f32(self.config["clip_sample_range"])
            original = np.clip(original, -bound, bound)
        direction = np.sqrt(f32(1) - alpha_prev - f32(0)) * epsilon  # std_dev_t = eta * ... = 0
        return as_f32(np.sqrt(alpha_prev) * original + direction)


def _alpha_sigma(sigma: np.float32) -> tuple[np.float32, np.float32]:
    alpha_t = f32(1) / np.sqrt(sigma * sigma + f32(1))
    return f32(alpha_t), f32(sigma * alpha_t)


class DPMSolverMultistep(_Indexed):
    """``DPMSolverMultistepScheduler`` as DPM-Solver++ (2M by default) without SDE noise."""

    init_noise_sigma = f32(1.0)

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        if self.config["solver_type"] in ("logrho", "bh1", "bh2"):
            self.config["solver_type"] = "midpoint"  # diffusers' mapping of other solvers' names
        self.order = int(self.config["solver_order"])
        self.alphas_cumprod = schedule.alphas_cumprod(config)
        self.timesteps = np.zeros(0, dtype=np.int64)
        self.sigmas = np.zeros(1, dtype=np.float32)
        self.model_outputs: list[Float32Array | None] = [None] * self.order
        self.lower_order_nums = 0

    def set_timesteps(self, steps: int) -> None:
        self.timesteps = schedule.dpm_timesteps(self.config, steps)
        last = schedule.final_sigma(self.config, self.alphas_cumprod)
        self.sigmas = schedule.step_sigmas(self.timesteps, self.alphas_cumprod, last)
        self.model_outputs = [None] * self.order
        self.lower_order_nums = 0
        self._reset()

    def _index_for_timestep(self, timestep: Any) -> int:
        matches = np.nonzero(self.timesteps == timestep)[0]
        if len(matches) == 0:
            return len(self.timesteps) - 1
        return int(matches[1] if len(matches) > 1 else matches[0])

    def scale_model_input(self, sample: Float32Array, timestep: Any) -> Float32Array:
        return sample

    def _data_prediction(self, model_output: Float32Array, sample: Float32Array, index: int) -> Float32Array:
        """``convert_model_output`` for DPM-Solver++: the predicted clean sample x0."""
        prediction = self.config["prediction_type"]
        if prediction == "sample":
            return model_output
        alpha_t, sigma_t = _alpha_sigma(self.sigmas[index])
        if prediction == "epsilon":
            return (sample - sigma_t * model_output) / alpha_t
        return alpha_t * sample - sigma_t * model_output

    def _lambda(self, index: int) -> tuple[np.float32, np.float32, np.float32]:
        """(alpha, sigma, lambda = log alpha - log sigma) at a step's sigma."""
        alpha, sigma = _alpha_sigma(self.sigmas[index])
        return alpha, sigma, f32(_log(alpha) - _log(sigma))

    def _first_order(self, x0: Float32Array, sample: Float32Array, index: int) -> Float32Array:
        alpha_t, sigma_t, lambda_t = self._lambda(index + 1)
        _, sigma_s, lambda_s = self._lambda(index)
        h = f32(lambda_t - lambda_s)
        return (sigma_t / sigma_s) * sample - (alpha_t * (_exp(-h) - f32(1.0))) * x0

    def _second_order(self, sample: Float32Array, index: int) -> Float32Array:
        alpha_t, sigma_t, lambda_t = self._lambda(index + 1)
        _, sigma_s0, lambda_s0 = self._lambda(index)
        _, _, lambda_s1 = self._lambda(index - 1)
        m0, m1 = self.model_outputs[-1], self.model_outputs[-2]
        assert m0 is not None and m1 is not None
        h, h_0 = f32(lambda_t - lambda_s0), f32(lambda_s0 - lambda_s1)
        r0 = f32(h_0 / h)
        d1 = f32(f32(1.0) / r0) * (m0 - m1)
        decay = f32(alpha_t * (_exp(-h) - f32(1.0)))
        if self.config["solver_type"] == "midpoint":
            return as_f32((sigma_t / sigma_s0) * sample - decay * m0 - f32(f32(0.5) * decay) * d1)
        heun = f32(alpha_t * ((_exp(-h) - f32(1.0)) / h + f32(1.0)))
        return as_f32((sigma_t / sigma_s0) * sample - decay * m0 + heun * d1)

    def step(self, model_output: Float32Array, timestep: Any, sample: Float32Array,
             generator: Generators | None = None) -> Float32Array:
        if not len(self.timesteps):
            raise ValueError("call set_timesteps before step")
        index = self._index(timestep)
        count, low_final = len(self.timesteps), bool(self.config["lower_order_final"])
        lower_order_final = index == count - 1 and (
            self.config["euler_at_final"] or (low_final and count < 15) or self.config["final_sigmas_type"] == "zero")
        x0 = self._data_prediction(model_output, sample, index)
        self.model_outputs = [*self.model_outputs[1:], x0]
        sample = sample.astype(np.float32)
        if self.order == 1 or self.lower_order_nums < 1 or lower_order_final:
            previous = self._first_order(x0, sample, index)
        else:  # solver_order 2; diffusers' lower_order_second only lowers a third order (refused by config.py)
            previous = self._second_order(sample, index)
        self.lower_order_nums = min(self.lower_order_nums + 1, self.order)
        self._step_index = index + 1
        return as_f32(previous)


CLASSES: dict[str, Any] = {
    "EulerDiscreteScheduler": EulerDiscrete,
    "EulerAncestralDiscreteScheduler": EulerAncestralDiscrete,
    "DDIMScheduler": DDIM,
    "DPMSolverMultistepScheduler": DPMSolverMultistep,
}


def from_config(class_name: str, config: Mapping[str, Any]) -> Scheduler:
    """The numpy scheduler standing in for ``diffusers.<class_name>.from_config(config)``."""
    scheduler: Scheduler = CLASSES[class_name](class_config(class_name, config))
    return scheduler
