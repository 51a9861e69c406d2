"""The noise schedule shared by the four schedulers: betas, cumulative alphas, sigmas, spaced timesteps.

Each function mirrors the float32 torch (or float64 numpy) arithmetic of diffusers 0.42.1 line for
line, because a one-ulp difference in a sigma moves every later sample: ``torch.linspace`` on an
AVX2/AVX-512 build computes ``start + step * i`` as one fused multiply-add, and ``torch.cumprod``
accumulates float32 values in double.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .floats import Float32Array, as_f32, f32, fma32


def torch_linspace(start: float, end: float, steps: int) -> Float32Array:
    """``torch.linspace(start, end, steps, dtype=torch.float32)`` as ATen's CPU kernel computes it:
    float32 step, the first half counted up from ``start``, the second half down from ``end``."""
    first, last = f32(start), f32(end)
    if steps == 1:
        return np.array([first], dtype=np.float32)
    step = (last - first) / f32(steps - 1)
    index = np.arange(steps)
    up = fma32(step, index.astype(np.float32), first)
    down = fma32(-step, (steps - 1 - index).astype(np.float32), last)
    return np.where(index < steps // 2, up, down).astype(np.float32)


def cosine_betas(num_train_timesteps: int, max_beta: float = 0.999) -> Float32Array:
    """``betas_for_alpha_bar`` (squaredcos_cap_v2): Python floats, then one float32 tensor."""

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / num_train_timesteps) / alpha_bar(i / num_train_timesteps), max_beta)
             for i in range(num_train_timesteps)]
    return np.array(betas, dtype=np.float32)


def betas(config: Mapping[str, Any]) -> Float32Array:
    """The training betas of ``trained_betas`` or ``beta_schedule``."""
    count = int(config["num_train_timesteps"])
    if config["trained_betas"] is not None:
        return np.asarray(config["trained_betas"], dtype=np.float32)
    schedule = config["beta_schedule"]
    if schedule == "linear":
        return torch_linspace(config["beta_start"], config["beta_end"], count)
    if schedule == "scaled_linear":
        roots = torch_linspace(config["beta_start"] ** 0.5, config["beta_end"] ** 0.5, count)
        return roots * roots
    return cosine_betas(count)


def alphas_cumprod(config: Mapping[str, Any]) -> Float32Array:
    """``torch.cumprod(1.0 - betas)``: a double accumulator, each prefix rounded to float32."""
    alphas = f32(1.0) - betas(config)
    return np.cumprod(alphas.astype(np.float64)).astype(np.float32)


def train_sigmas(cumprod: Float32Array) -> Float32Array:
    """``((1 - alphas_cumprod) / alphas_cumprod) ** 0.5`` in float32 (a power of 0.5 is a square root)."""
    return as_f32(np.sqrt((f32(1) - cumprod) / cumprod))


def sigma_min(cumprod: Float32Array) -> np.float32:
    """The ``final_sigmas_type="sigma_min"`` last sigma: the first training step's."""
    return f32(np.sqrt((f32(1) - cumprod[0]) / cumprod[0]))


def step_sigmas(timesteps: NDArray[Any], cumprod: Float32Array, last: float | np.float32) -> Float32Array:
    """The training sigma at each (fractional) timestep, by ``np.interp`` in float64, then ``last``."""
    sigmas = train_sigmas(cumprod)
    interpolated = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
    return np.concatenate([interpolated, [last]]).astype(np.float32)


def final_sigma(config: Mapping[str, Any], cumprod: Float32Array) -> np.float32:
    """``final_sigmas_type``: 0, or the first training step's sigma."""
    return f32(0) if config["final_sigmas_type"] == "zero" else sigma_min(cumprod)


def sigma_timesteps(config: Mapping[str, Any], steps: int) -> Float32Array:
    """Euler's and Euler ancestral's float32 timesteps for ``timestep_spacing``."""
    train = int(config["num_train_timesteps"])
    spacing = config["timestep_spacing"]
    if spacing == "linspace":
        return np.linspace(0, train - 1, steps, dtype=np.float32)[::-1].copy()
    if spacing == "leading":
        ratio = train // steps
        timesteps = (np.arange(0, steps) * ratio).round()[::-1].copy().astype(np.float32)
        return timesteps + f32(config["steps_offset"])
    ratio_f = train / steps
    return np.arange(train, 0, -ratio_f).round().copy().astype(np.float32) - f32(1)


def ddim_timesteps(config: Mapping[str, Any], steps: int) -> NDArray[np.int64]:
    """DDIM's integer timesteps for ``timestep_spacing``."""
    train = int(config["num_train_timesteps"])
    if steps > train:
        raise ValueError(f"steps: {steps} cannot be larger than num_train_timesteps ({train})")
    spacing = config["timestep_spacing"]
    if spacing == "linspace":
        return np.linspace(0, train - 1, steps).round()[::-1].copy().astype(np.int64)
    if spacing == "leading":
        ratio = train // steps
        timesteps = (np.arange(0, steps) * ratio).round()[::-1].copy().astype(np.int64)
        return timesteps + np.int64(config["steps_offset"])
    return np.asarray(np.round(np.arange(train, 0, -(train / steps))) - 1, dtype=np.int64)


def dpm_timesteps(config: Mapping[str, Any], steps: int) -> NDArray[np.int64]:
    """DPM-Solver's integer timesteps (``steps + 1`` points, the last dropped; no ``lambda_min_clipped``)."""
    train = last = int(config["num_train_timesteps"])
    spacing = config["timestep_spacing"]
    if spacing == "linspace":
        return np.linspace(0, last - 1, steps + 1).round()[::-1][:-1].copy().astype(np.int64)
    if spacing == "leading":
        ratio = last // (steps + 1)
        timesteps = (np.arange(0, steps + 1) * ratio).round()[::-1][:-1].copy().astype(np.int64)
        return timesteps + np.int64(config["steps_offset"])
    return np.arange(last, 0, -(train / steps)).round().copy().astype(np.int64) - 1
