"""The predictive floor: replicas the forecast arrivals will need by the time a new replica serves.

Two loops, as NVIDIA Dynamo's planner runs them: the reactive decision sizes for the load it sees, and
this floor sizes for the load forecast over the next cold start (``policy.cold_start_s``, the measured
one when known) with the same capacity model (Erlang C at the SLA quantile). The decision takes the
larger of the two and so the floor can only add or keep replicas: scale-down still needs the reactive
evidence, and an untrusted forecast (``forecast.forecast_peak``) is simply absent, never a reason to
shrink.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla
from diffusion_operator.autoscaling.forecast import forecast_peak, observe_arrivals
from diffusion_operator.autoscaling.history import History
from diffusion_operator.autoscaling.observation import Observation
from diffusion_operator.autoscaling.policy import ScalingPolicy

# Look a little past the cold start: the order goes out at the next evaluation (15 s), and the
# forecast's buckets are coarse.
LEAD_MARGIN_S = 30.0


@dataclass(frozen=True)
class PredictiveFloor:
    replicas: int | None
    note: str

    def applied(self, stabilized: int, current: int, upper: int, tolerance: float) -> tuple[int, bool]:
        """``stabilized`` raised to the floor (capped at ``upper``), and whether the floor raised it.

        The floor keeps replicas (no scale-down below it) and adds them like any scale-up: only past
        the tolerance band, so a forecast that merely agrees with the load (plus a trend) adds nothing.
        """
        if self.replicas is None:
            return stabilized, False
        floor = min(self.replicas, upper)
        if floor <= stabilized or (current < floor <= current * (1 + tolerance)):
            return stabilized, False
        return floor, True


def learn_arrivals(history: History, observation: Observation, policy: ScalingPolicy, now: float) -> History:
    """Feed this evaluation's arrival rate to the forecast (no-op while the floor is off)."""
    if policy.forecast_season_s is None:
        return history if history.forecast is None else replace(history, forecast=None)
    state = observe_arrivals(history.forecast, policy.forecast_season_s, now, observation.arrival_rate)
    return replace(history, forecast=state)


def predictive_floor(history: History, policy: ScalingPolicy, service_time_s: float | None,
                     now: float) -> PredictiveFloor:
    """The lower bound the forecast asks for, or None with the reason it does not apply."""
    if policy.forecast_season_s is None:
        return PredictiveFloor(None, "")
    forecast = forecast_peak(history.forecast, now, policy.cold_start_s + LEAD_MARGIN_S)
    if forecast.rate is None:
        return PredictiveFloor(None, forecast.note)
    if service_time_s is None:
        return PredictiveFloor(None, "forecast ignored: no service time to size it with")
    replicas = replicas_for_queue_sla(forecast.rate, service_time_s, policy.queue_latency_target_s,
                                      policy.target_quantile, policy.service_time_cv2)
    return PredictiveFloor(replicas, f"{forecast.note} -> floor {replicas}")
