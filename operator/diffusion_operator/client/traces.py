"""Open-loop arrival schedules: *when* each request is sent, decided before the test starts.

A closed loop (N clients, each waiting for its answer) slows down exactly when the server does, so
it hides queueing; an open loop keeps sending on schedule, which is what users do and what makes a
queue (and the autoscaler) visible. Deterministic traces space arrivals evenly under their rate
curve (the k-th request goes out when the integral of the rate reaches k + ½), so two runs send the
same schedule; ``poisson`` draws exponential gaps from a seeded generator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

from diffusion_operator.client.errors import UsageError

TRACES = ("constant", "step", "diurnal", "poisson")
#: ``step``: a quiet first third at this fraction of the rate, then the full rate (a sudden surge).
STEP_LOW_FRACTION = 0.25
STEP_AT_FRACTION = 1 / 3
#: ``diurnal``: one day squeezed into the test, from this fraction of the peak at the ends to the peak mid-way.
DIURNAL_TROUGH_FRACTION = 0.1
#: Integration resolution of deterministic traces (arrival times are exact to duration / this).
_STEPS = 20_000
#: Cap on how many arrivals one test may schedule: a typo (rate 10000) must not fork a storm.
MAX_ARRIVALS = 100_000


def rate_curve(trace: str, rate: float, duration_s: float) -> Callable[[float], float]:
    """Requests per second at time ``t`` for a named deterministic trace."""
    if trace == "constant":
        return lambda t: rate
    if trace == "step":
        return lambda t: rate * (STEP_LOW_FRACTION if t < duration_s * STEP_AT_FRACTION else 1.0)
    if trace == "diurnal":
        low = DIURNAL_TROUGH_FRACTION

        def diurnal(t: float) -> float:
            return rate * (low + (1 - low) * 0.5 * (1 - math.cos(2 * math.pi * t / duration_s)))

        return diurnal
    raise UsageError(f"trace {trace!r}: expected one of {', '.join(TRACES)} or file:PATH")


def even_arrivals(curve: Callable[[float], float], duration_s: float) -> list[float]:
    """Times where the cumulative rate crosses k + ½ (evenly spaced at a constant rate, centred)."""
    arrivals: list[float] = []
    dt = duration_s / _STEPS
    total, next_mark = 0.0, 0.5
    for i in range(_STEPS):
        t = i * dt
        step = curve(t + dt / 2) * dt
        while total + step >= next_mark and step > 0:
            arrivals.append(t + dt * (next_mark - total) / step)
            next_mark += 1.0
        total += step
    return arrivals


def poisson_arrivals(rate: float, duration_s: float, seed: int) -> list[float]:
    """A Poisson process: exponential gaps with mean ``1/rate``, reproducible from ``seed``."""
    draw = random.Random(seed)
    arrivals: list[float] = []
    t = draw.expovariate(rate)
    while t < duration_s:
        arrivals.append(t)
        t += draw.expovariate(rate)
    return arrivals


def file_arrivals(path: Path, duration_s: float) -> list[float]:
    """Offsets in seconds, one per line (``#`` comments allowed), e.g. replayed from a production log."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise UsageError(f"trace file {path}: {err.strerror or err}") from err
    arrivals = []
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError as err:
            raise UsageError(f"trace file {path}:{number}: {text!r} is not a number of seconds") from err
        if value < 0 or math.isnan(value):
            raise UsageError(f"trace file {path}:{number}: offsets must be >= 0")
        if value < duration_s:
            arrivals.append(value)
    return sorted(arrivals)


def arrival_schedule(trace: str, rate: float, duration_s: float, seed: int = 0) -> list[float]:
    """Send times (seconds from the start, ascending) for ``--trace`` at peak ``--rate`` over ``--duration``."""
    if duration_s <= 0:
        raise UsageError(f"duration: {duration_s} must be > 0 seconds")
    if trace.startswith("file:"):
        arrivals = file_arrivals(Path(trace.removeprefix("file:")), duration_s)
    else:
        if rate <= 0:
            raise UsageError(f"rate: {rate} must be > 0 requests per second")
        if rate * duration_s > MAX_ARRIVALS:
            raise UsageError(f"rate x duration = {rate * duration_s:.0f} requests; at most {MAX_ARRIVALS}")
        if trace == "poisson":
            arrivals = poisson_arrivals(rate, duration_s, seed)
        else:
            arrivals = even_arrivals(rate_curve(trace, rate, duration_s), duration_s)
    if len(arrivals) > MAX_ARRIVALS:
        raise UsageError(f"trace has {len(arrivals)} arrivals; at most {MAX_ARRIVALS}")
    return arrivals
