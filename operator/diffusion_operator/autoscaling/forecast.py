"""The predictive floor's forecast: seasonal Holt-Winters over the service's own arrival rate.

Why a forecast. A reactive scaler learns of a rise only once it is under way, and a new SDXL replica
serves ~90 s after it is ordered; a rise that repeats at the same time every day (a morning) can be
met with replicas ordered before it. The forecast only ever *raises* the floor (``decision``): it never
shrinks the fleet, so a wrong forecast costs GPU-hours, never the SLA.

Why this method. Additive Holt-Winters with a damped trend, updated online one bucket at a time, is
exact in a few dozen lines, has a state of ``BUCKETS + 6`` numbers (it fits in status and a restart
replays nothing), and captures what matters here: a level, a trend, a daily shape. statsmodels'
``ExponentialSmoothing`` fits the same model by optimising its smoothing constants over the whole
series, which needs the series (hundreds of points in status) and a new pinned dependency with
scipy behind it, for constants that the error gate below has to check anyway. ARIMA or Prophet
(Dynamo's planner) need the series too.

Trust. The state measures its own one-bucket-ahead error (the worst recent ``|actual - forecast|``
relative to the season's peak, decaying over about a season). A forecast is used only after a full season
plus a quarter of history, while that error is small, and when it is finite and not wild (above twice
the highest level the season has shown); otherwise the decision's reason says why it was ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from diffusion_operator.api.status import FORECAST_BUCKETS

# A season is cut into this many buckets (``api.status.FORECAST_BUCKETS``: the status schema's limit is
# the one home of the number).
BUCKETS = FORECAST_BUCKETS
# Smoothing constants. Level and season adapt within a few buckets/seasons; the trend slowly and
# damped (phi), so a forecast over the cold-start horizon cannot run away on one noisy bucket.
ALPHA, BETA, GAMMA, PHI = 0.3, 0.05, 0.4, 0.9
# The error gate remembers the worst recent one-bucket miss, decaying so that a flash crowd's miss
# (0.7) keeps the gate shut for 1.5 seasons. A one-off the season has absorbed comes back as a ghost
# forecast one season later; shut, the gate lets the ghost miss again (refreshing the gate) until it
# has faded, so it is never replayed. A gate shut for only one season replayed the benchmark's flash
# crowd at its anniversary: 8 % more GPU-hours for nothing.
ERROR_DECAY = 0.9883
# Largest remembered miss (relative to the season's peak) at which the forecast is trusted. On the
# benchmark the weekly pattern's floor acted at 0.14-0.24 (Poisson noise on quiet hours); the
# heavy-tailed trace's noisier arrival estimate read 0.24-0.29 and its floor only added GPU-hours;
# unseasonal spikes and crowds read 0.5-0.9.
MAX_ERROR = 0.25
WILD_FACTOR = 2.0  # a forecast above this many times the season's highest level is ignored
WARMUP_BUCKETS = BUCKETS + BUCKETS // 4


@dataclass(frozen=True)
class ForecastState:
    """Holt-Winters state for one season length; ``seasonal`` holds raw bucket means until it is full."""

    season_s: float
    bucket: int  # index (epoch seconds // bucket_s) of the bucket being filled
    total: float = 0.0  # sum of the arrival-rate samples in that bucket
    samples: int = 0
    level: float = 0.0
    trend: float = 0.0
    seasonal: tuple[float, ...] = ()
    seen: int = 0  # buckets closed
    error: float | None = None

    @property
    def bucket_s(self) -> float:
        return self.season_s / BUCKETS

    @property
    def peak(self) -> float:
        """The highest level any bucket of the season has shown."""
        return max((self.level + s for s in self.seasonal), default=0.0) if self.seen >= BUCKETS else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"seasonS": self.season_s, "bucket": self.bucket, "total": _r(self.total), "samples": self.samples,
                "level": _r(self.level), "trend": _r(self.trend), "seasonal": [_r(s) for s in self.seasonal],
                "seen": self.seen, "error": None if self.error is None else _r(self.error)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ForecastState | None:
        if not data:
            return None
        error = data.get("error")
        return cls(season_s=float(data["seasonS"]), bucket=int(data["bucket"]), total=float(data.get("total", 0.0)),
                   samples=int(data.get("samples", 0)), level=float(data.get("level", 0.0)),
                   trend=float(data.get("trend", 0.0)),
                   seasonal=tuple(float(s) for s in data.get("seasonal", [])), seen=int(data.get("seen", 0)),
                   error=None if error is None else float(error))


def _r(value: float) -> float:
    return round(value, 4)


def observe_arrivals(state: ForecastState | None, season_s: float, now: float, rate: float | None) -> ForecastState:
    """Add one arrival-rate sample; closing a bucket updates the model. A new season length starts over."""
    bucket = int(now // (season_s / BUCKETS))
    if state is None or state.season_s != season_s or bucket < state.bucket:
        state = ForecastState(season_s=season_s, bucket=bucket)
    if bucket > state.bucket:
        state = _close(state) if state.samples else state
        state = replace(state, bucket=bucket, total=0.0, samples=0)
    if rate is None or not math.isfinite(rate) or rate < 0:
        return state
    return replace(state, total=state.total + rate, samples=state.samples + 1)


def _close(state: ForecastState) -> ForecastState:
    actual = state.total / state.samples
    slot = state.bucket % BUCKETS
    if state.seen < BUCKETS:  # the first season: keep raw means, then split them into level + shape
        seasonal = list(state.seasonal) or [0.0] * BUCKETS
        seasonal[slot] = actual
        seen = state.seen + 1
        if seen < BUCKETS:
            return replace(state, seasonal=tuple(seasonal), seen=seen)
        level = sum(seasonal) / BUCKETS
        return replace(state, seasonal=tuple(s - level for s in seasonal), level=level, trend=0.0, seen=seen)
    predicted = state.level + PHI * state.trend + state.seasonal[slot]
    scale = max(actual, predicted, 0.25 * state.peak, 1e-6)
    miss = abs(actual - predicted) / scale
    error = miss if state.error is None else max(miss, ERROR_DECAY * state.error)
    level = ALPHA * (actual - state.seasonal[slot]) + (1 - ALPHA) * (state.level + PHI * state.trend)
    trend = BETA * (level - state.level) + (1 - BETA) * PHI * state.trend
    seasonal = list(state.seasonal)
    seasonal[slot] = GAMMA * (actual - level) + (1 - GAMMA) * seasonal[slot]
    return replace(state, level=level, trend=trend, seasonal=tuple(seasonal), seen=state.seen + 1, error=error)


@dataclass(frozen=True)
class Forecast:
    """The highest arrival rate forecast over a horizon, or why there is none to trust."""

    rate: float | None
    note: str


def forecast_peak(state: ForecastState | None, now: float, horizon_s: float) -> Forecast:
    """Highest forecast rate for the buckets from now to ``now + horizon_s``; None with a reason if untrusted."""
    if state is None or state.seen < WARMUP_BUCKETS:
        seen = 0 if state is None else state.seen
        return Forecast(None, f"forecast ignored: {seen}/{WARMUP_BUCKETS} buckets of history")
    if state.error is None or not math.isfinite(state.error) or state.error > MAX_ERROR:
        return Forecast(None, f"forecast ignored: recent error {_pct(state.error)} > {MAX_ERROR:.0%}")
    last_closed = state.bucket - 1
    first, end = int(now // state.bucket_s), int((now + horizon_s) // state.bucket_s)
    best = -math.inf
    for bucket in range(max(first, state.bucket), end + 1):
        ahead = bucket - last_closed
        damped = sum(PHI**i for i in range(1, ahead + 1)) * state.trend
        best = max(best, state.level + damped + state.seasonal[bucket % BUCKETS])
    if not math.isfinite(best):
        return Forecast(None, "forecast ignored: not finite")
    if best > WILD_FACTOR * max(state.peak, 1e-6):
        return Forecast(None, f"forecast ignored: {best:.2f} req/s is wild (season peak {state.peak:.2f})")
    return Forecast(max(best, 0.0), f"forecast {max(best, 0.0):.2f} req/s (error {_pct(state.error)})")


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.0%}"
