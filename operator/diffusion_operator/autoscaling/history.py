"""What the decision remembers between evaluations; lives in the object's status so restarts change nothing.

Times are seconds since the epoch (floats) supplied by the caller — the core never reads a clock.
The dict form is small and JSON-able: lists of ``[time, replicas]`` pairs, pruned to the longest window
or period the policy looks at (older recommendations thinned to one a minute for the burst memory).
The predictive floor's forecast keeps its own fixed-size state (``forecast.ForecastState``: 48 bucket
shapes and a few numbers), not a series, so a season of memory costs the same as an hour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from diffusion_operator.autoscaling.forecast import ForecastState


@dataclass(frozen=True)
class Recommendation:
    at: float
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    """A replica change we made; the rate limits sum these over their periods."""

    at: float
    change: int  # positive: pods added, negative: pods removed


@dataclass(frozen=True)
class History:
    recommendations: tuple[Recommendation, ...] = ()
    scale_events: tuple[ScaleEvent, ...] = ()
    last_scale_time: float | None = None
    consecutive_failures: int = 0
    idle_since: float | None = None
    forecast: ForecastState | None = None
    speed_tier_since: float | None = None  # when the speed tier turned on (None: full steps)

    def pruned(self, now: float, horizon_s: float, memory_s: float = 0.0, bucket_s: float = 60.0) -> History:
        """Drop entries older than ``horizon_s`` (they can no longer influence a decision).

        Recommendations older than the horizon but within ``memory_s`` are kept thinned to the highest
        one per ``bucket_s`` (the burst memory reads no more than that), so an hour of memory costs 60
        entries, not 240, and the status stays far below its schema's list limit.
        """
        oldest = now - horizon_s
        remembered = now - memory_s
        thinned: dict[int, Recommendation] = {}
        for r in self.recommendations:
            if remembered <= r.at < oldest:
                bucket = int(r.at // bucket_s)
                if bucket not in thinned or r.replicas > thinned[bucket].replicas:
                    thinned[bucket] = r
        recent = tuple(r for r in self.recommendations if r.at >= oldest)
        return replace(
            self,
            recommendations=(*sorted(thinned.values(), key=lambda r: r.at), *recent),
            scale_events=tuple(e for e in self.scale_events if e.at >= oldest),
        )

    def with_recommendation(self, now: float, replicas: int) -> History:
        return replace(self, recommendations=(*self.recommendations, Recommendation(now, replicas)))

    def with_scale(self, now: float, change: int) -> History:
        if change == 0:
            return self
        return replace(self, scale_events=(*self.scale_events, ScaleEvent(now, change)), last_scale_time=now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recommendations": [[r.at, r.replicas] for r in self.recommendations],
            "scaleEvents": [[e.at, e.change] for e in self.scale_events],
            "lastScaleTime": self.last_scale_time,
            "consecutiveFailures": self.consecutive_failures,
            "idleSince": self.idle_since,
            "speedTierSince": self.speed_tier_since,
            **({"forecast": self.forecast.to_dict()} if self.forecast is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> History:
        """Tolerant: a missing or partial dict (first run, older operator) reads as empty history."""
        if not data:
            return cls()
        last = data.get("lastScaleTime")
        idle = data.get("idleSince")
        return cls(
            recommendations=tuple(Recommendation(float(t), int(r)) for t, r in data.get("recommendations", [])),
            scale_events=tuple(ScaleEvent(float(t), int(c)) for t, c in data.get("scaleEvents", [])),
            last_scale_time=None if last is None else float(last),
            consecutive_failures=int(data.get("consecutiveFailures", 0)),
            idle_since=None if idle is None else float(idle),
            forecast=ForecastState.from_dict(data.get("forecast")),
            speed_tier_since=None if data.get("speedTierSince") is None else float(data["speedTierSince"]),
        )
