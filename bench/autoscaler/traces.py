"""Arrival traces: an intensity (requests/s on a 1 s grid) and Poisson arrivals drawn from it.

The oracle reads the intensity; every scaler and the fleet see only the arrivals. Each request also
carries a size (its service time relative to a standard 30-step image: 1 except on the heavy-tailed
trace) and whether it pinned its own step count (the overload speed tier never touches those).
Sizes and pins are drawn after the arrivals, so adding them left the older traces' arrivals as they were.
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
    sizes: FloatArray | None = None  # service time of each request relative to a standard one (None: all 1)
    pinned: npt.NDArray[np.bool_] | None = None  # requests that set their own steps (never degraded)

    @property
    def duration_s(self) -> float:
        return float(len(self.intensity))


def poisson_arrivals(intensity: FloatArray, rng: np.random.Generator) -> FloatArray:
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


#: One compressed day of the weekly trace; the benchmark's scalers are told this season on every trace
#: (a fact about the service, like its SLA, not a per-trace setting).
COMPRESSED_DAY_S = 3600


def flash_crowd(rng: np.random.Generator) -> FloatArray:
    """1 req/s; at 1 h a crowd arrives within 60 s to 6 req/s and thins out (half-life 15 min; 3 h)."""
    t = np.arange(10800, dtype=np.float64)
    since = t - 3600
    crowd = np.where(since < 0, 0.0, 5.0 * np.minimum(since / 60, 1.0) * np.exp2(-np.maximum(since - 60, 0) / 900))
    return 1.0 + crowd


def weekly(rng: np.random.Generator) -> FloatArray:
    """A week of business days compressed 24x (a day is 1 h, 7 h in all).

    Weekdays: 0.3 req/s at night, a morning ramp to 3 req/s within 1/24 of a day (1 h of a real day),
    a lunch dip, an evening decline; weekend days peak at 1.2 req/s. A reactive scaler meets each
    morning as a burst; the pattern repeats, which is what a seasonal forecast can learn.
    """
    day = COMPRESSED_DAY_S
    phase = np.arange(7 * day, dtype=np.float64) % day / day  # 0..1 within the day
    morning = np.clip((phase - 8 / 24) * 24, 0, 1)  # 08:00-09:00 ramp up
    evening = np.clip((19 / 24 - phase) * 12, 0, 1)  # 17:00-19:00 ramp down
    lunch = 1 - 0.25 * np.exp(-(((phase - 12.5 / 24) * 24) ** 2))
    shape = morning * evening * lunch
    days = np.arange(7 * day) // day
    peak = np.where(days >= 5, 1.2, 3.0)
    return 0.3 + (peak - 0.3) * shape


def slow_decline(rng: np.random.Generator) -> FloatArray:
    """4 req/s falling to 0.3 req/s over 2.5 h, then held 30 min (3 h): what scale-down leaves running."""
    rate = np.full(10800, 0.3)
    rate[:9000] = np.linspace(4.0, 0.3, 9000)
    return rate


def heavy_tailed(rng: np.random.Generator) -> FloatArray:
    """1.5 req/s with a 1-h swing to 2.5 req/s, request sizes heavy-tailed (see HEAVY_TAIL_SIGMA; 3 h)."""
    t = np.arange(10800, dtype=np.float64)
    return 1.5 + 1.0 * (1 - np.cos(2 * np.pi * t / 10800)) / 2


# Sizes on the heavy-tailed trace: lognormal with sigma 0.8 scaled to mean 1 (cv² = e^0.64 - 1 ≈ 0.9,
# against ≈ 0 for fixed-step images), clipped to 0.2-6x: users asking for 10-150 steps or larger images.
HEAVY_TAIL_SIGMA = 0.8
HEAVY_TAIL_RANGE = (0.2, 6.0)
# Share of requests that set their own ``steps`` (the speed tier leaves them alone).
PINNED_SHARE = 0.2


TRACES: dict[str, tuple[str, Callable[[np.random.Generator], FloatArray]]] = {
    "step_burst": ("step x10 for 1 h", step_burst),
    "diurnal": ("24 h cosine 0.25-3 req/s", diurnal),
    "poisson_spikes": ("1 req/s + random 4x spikes", poisson_spikes),
    "slow_ramp": ("0.2 -> 4 req/s over 2.5 h", slow_ramp),
    "flash_crowd": ("1 req/s, a 6x crowd within 60 s at 1 h, half-life 15 min", flash_crowd),
    "weekly": ("a week compressed 24x: business-day mornings, quiet weekend", weekly),
    "slow_decline": ("4 -> 0.3 req/s over 2.5 h", slow_decline),
    "heavy_tailed": ("1.5-2.5 req/s, lognormal request sizes (cv² ≈ 0.9)", heavy_tailed),
}


# Scenarios that replay a trace with a Prometheus outage: what each scaler does when the query fails.
OUTAGES: dict[str, tuple[str, str, tuple[tuple[float, float], ...]]] = {
    "slow_ramp+outage": ("slow_ramp", "the ramp with Prometheus down 10 min at 2 h", ((7200.0, 7800.0),)),
}


def build(name: str, seed: int = 7) -> Trace:
    if name in OUTAGES:
        base, description, outages = OUTAGES[name]
        trace = build(base, seed)
        return Trace(name, description, trace.intensity, trace.arrivals, outages, trace.sizes, trace.pinned)
    description, make = TRACES[name]
    rng = np.random.default_rng(seed)
    intensity = make(rng)
    arrivals = poisson_arrivals(intensity, rng)
    pinned = rng.random(len(arrivals)) < PINNED_SHARE
    sizes = None
    if name == "heavy_tailed":
        raw = rng.lognormal(-HEAVY_TAIL_SIGMA**2 / 2, HEAVY_TAIL_SIGMA, size=len(arrivals))
        sizes = np.clip(raw, *HEAVY_TAIL_RANGE)
    return Trace(name, description, intensity, arrivals, sizes=sizes, pinned=pinned)
