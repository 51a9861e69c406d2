"""The Kubernetes HPA's replica calculation and behaviour, as the baselines run it.

Follows ``pkg/controller/podautoscaler/replica_calculator.go`` for a Pods metric with an AverageValue
target (``calcPlainMetricReplicas``: pods without metrics count against the direction of change,
pods not yet scheduled count as zero when scaling up) and for an External AverageValue metric (KEDA),
then ``horizontal.go``'s behaviour: record, stabilize, rate-limit, clamp. Stabilization and rate limits
reuse the operator's implementation of the same documented rules (``autoscaling.behavior``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from diffusion_operator.autoscaling.behavior import scale_down_limit, scale_up_limit, stabilize
from diffusion_operator.autoscaling.history import History
from diffusion_operator.autoscaling.policy import DirectionRules, RateLimit

HPA_TOLERANCE = 0.1
# The autoscaling/v2 defaults (no behavior block), as Triton's chart and KEDA leave them.
HPA_DEFAULT_UP = DirectionRules(0.0, (RateLimit(15.0, pods=4), RateLimit(15.0, percent=100.0)))
HPA_DEFAULT_DOWN = DirectionRules(300.0, (RateLimit(15.0, percent=100.0),))


def pods_metric_replicas(current: int, target: float, pod_values: dict[int, float], live_pods: frozenset[int],
                         tolerance: float = HPA_TOLERANCE) -> int | None:
    """Desired replicas for a Pods metric (AverageValue); None when no pod has a metric (HPA errors)."""
    values = {pod: value for pod, value in pod_values.items() if pod in live_pods}
    if not values:
        return None
    # Triton starts its metrics endpoint after its models load, so a starting pod (Running, not Ready)
    # has no metric: "missing" in HPA terms, counted against the direction of change. (Pods still
    # Pending on a node would be "unready" — zero when scaling up, ignored when scaling down; the
    # small difference is not modelled.)
    missing = [pod for pod in live_pods if pod not in values]
    ratio = sum(values.values()) / len(values) / target
    if not missing:
        if abs(1 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * len(values))
    filled = dict(values)
    for pod in missing:
        filled[pod] = target if ratio < 1 else 0.0
    new_ratio = sum(filled.values()) / len(filled) / target
    if abs(1 - new_ratio) <= tolerance or (ratio < 1 < new_ratio) or (ratio > 1 > new_ratio):
        return current
    desired = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1 and desired > current) or (new_ratio > 1 and desired < current):
        return current
    return desired


def external_average_value_replicas(current: int, total: float, target_per_pod: float,
                                    tolerance: float = HPA_TOLERANCE) -> int:
    """Desired replicas for an External metric with an AverageValue target (how KEDA drives the HPA)."""
    ratio = total / (target_per_pod * max(current, 1))
    if abs(1 - ratio) <= tolerance:
        return current
    return math.ceil(total / target_per_pod)


@dataclass
class HpaBehavior:
    """``horizontal.go``'s normalizeDesiredReplicasWithBehaviors, with its state."""

    min_replicas: int
    max_replicas: int
    up: DirectionRules = HPA_DEFAULT_UP
    down: DirectionRules = HPA_DEFAULT_DOWN
    history: History = field(default_factory=History)

    def normalize(self, desired: int, current: int, now: float) -> int:
        horizon = max(self.down.stabilization_window_s, 15.0, self.up.stabilization_window_s)
        self.history = self.history.pruned(now, horizon).with_recommendation(now, desired)
        stabilized = stabilize(desired, current, self.history, now, up=self.up, down=self.down)
        final = stabilized
        if stabilized > current:
            ceiling = scale_up_limit(current, self.history, now, self.up)
            final = stabilized if ceiling is None else min(stabilized, ceiling)
        elif stabilized < current:
            floor = scale_down_limit(current, self.history, now, self.down)
            final = stabilized if floor is None else max(stabilized, floor)
        final = min(max(final, self.min_replicas), self.max_replicas)
        self.history = replace(self.history).with_scale(now, final - current)
        return final
