"""Arrival traces: an intensity (requests/s on a 1 s grid) and Poisson arrivals drawn from it.

The oracle reads the intensity; every scaler and the fleet see only the arrivals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Trace:
    name: str
    description: str
    intensity: FloatArray  # requests/s for each second [i, i+1)
    arrivals: FloatArray  # sorted arrival times in seconds
    outages: tuple[tuple[float, float], ...] = ()  # windows when Prometheus cannot be queried

    @property
    def duration_s(self) -> float:
        return float(len(self.intensity))


def _arrivals(intensity: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Inhomogeneous Poisson arrivals by inverting the cumulative intensity."""
    cumulative = np.concatenate([[0.0], np.cumsum(intensity)])
    total = cumulative[-1]
    count = rng.poisson(total)
    points = np.sort(rng.uniform(0.0, total, size=count))
    grid = np.arange(len(cumulative), dtype=np.float64)
    return np.interp(points, cumulative, grid)


def step_burst(rng: np.random.Generator) -> FloatArray:
    """0.5 req/s, a 10x step to 5 req/s for an hour, then back (2 h)."""
    rate = np.full(7200, 0.5)
    rate[1800:5400] = 5.0
    return rate


def diurnal(rng: np.random.Generator) -> FloatArray:
    """A day: 0.25 req/s at night to 3 req/s at noon, a smooth cosine (24 h)."""
    t = np.arange(86400, dtype=np.float64)
    return 0.25 + 2.75 * (1 - np.cos(2 * np.pi * t / 86400)) / 2


def poisson_spikes(rng: np.random.Generator) -> FloatArray:
    """1 req/s with 4x spikes of 3-8 min starting as a Poisson process (one per 20 min; 3 h)."""
    rate = np.full(10800, 1.0)
    start = rng.exponential(1200.0)
    while start < 10800 - 600:
        length = int(rng.uniform(180, 480))
        rate[int(start):int(start) + length] = 4.0
        start += length + rng.exponential(1200.0)
    return rate


def slow_ramp(rng: np.random.Generator) -> FloatArray:
    """0.2 to 4 req/s over 2.5 h, held 30 min (3 h)."""
    rate = np.full(10800, 4.0)
    rate[:9000] = np.linspace(0.2, 4.0, 9000)
    return rate


TRACES: dict[str, tuple[str, Callable[[np.random.Generator], FloatArray]]] = {
    "step_burst": ("step x10 for 1 h", step_burst),
    "diurnal": ("24 h cosine 0.25-3 req/s", diurnal),
    "poisson_spikes": ("1 req/s + random 4x spikes", poisson_spikes),
    "slow_ramp": ("0.2 -> 4 req/s over 2.5 h", slow_ramp),
}


# Scenarios that replay a trace with a Prometheus outage: what each scaler does when the query fails.
OUTAGES: dict[str, tuple[str, str, tuple[tuple[float, float], ...]]] = {
    "slow_ramp+outage": ("slow_ramp", "the ramp with Prometheus down 10 min at 2 h", ((7200.0, 7800.0),)),
}


def build(name: str, seed: int = 7) -> Trace:
    if name in OUTAGES:
        base, description, outages = OUTAGES[name]
        trace = build(base, seed)
        return Trace(name, description, trace.intensity, trace.arrivals, outages)
    description, make = TRACES[name]
    rng = np.random.default_rng(seed)
    intensity = make(rng)
    return Trace(name, description, intensity, _arrivals(intensity, rng))
