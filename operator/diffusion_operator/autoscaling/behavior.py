"""Stabilization windows and per-direction rate limits, as the HPA's ``behavior`` defines them.

Kept separate from the decision so each rule reads on its own and has its own table tests. Semantics
follow ``pkg/controller/podautoscaler/horizontal.go``: stabilization works on raw recommendations (so a
rate-limited series cannot look stable), rate limits work on the changes actually made.
"""

from __future__ import annotations

import math

from diffusion_operator.autoscaling.history import History
from diffusion_operator.autoscaling.policy import DirectionRules


def stabilize(raw: int, current: int, history: History, now: float, *, up: DirectionRules,
              down: DirectionRules) -> int:
    """Scale up to the lowest and down to the highest recommendation within each direction's window.

    ``history`` must already contain ``raw`` as a recommendation at ``now``.
    """
    up_floor = min((r.replicas for r in history.recommendations
                    if r.at >= now - up.stabilization_window_s), default=raw)
    down_ceiling = max((r.replicas for r in history.recommendations
                        if r.at >= now - down.stabilization_window_s), default=raw)
    return min(max(current, up_floor), down_ceiling)


def scale_up_limit(current: int, history: History, now: float, rules: DirectionRules) -> int | None:
    """The most replicas allowed now, or None when no limit is configured.

    Never below ``current``: a limit may stop a scale-up but never turn it into a scale-down, even when
    the recorded events do not add up (e.g. someone else changed the replicas in between).
    """
    if not rules.limits:
        return None
    allowed = []
    for limit in rules.limits:
        added = sum(e.change for e in history.scale_events if e.at > now - limit.period_s and e.change > 0)
        start = current - added
        if limit.pods is not None:
            allowed.append(start + limit.pods)
        else:
            assert limit.percent is not None
            allowed.append(math.ceil(start * (1 + limit.percent / 100)))
    return max(current, *allowed)


def scale_down_limit(current: int, history: History, now: float, rules: DirectionRules) -> int | None:
    """The fewest replicas allowed now, or None when no limit is configured; never above ``current``."""
    if not rules.limits:
        return None
    allowed = []
    for limit in rules.limits:
        removed = -sum(e.change for e in history.scale_events if e.at > now - limit.period_s and e.change < 0)
        start = current + removed
        if limit.pods is not None:
            allowed.append(start - limit.pods)
        else:
            assert limit.percent is not None
            allowed.append(math.floor(start * (1 - limit.percent / 100)))
    return min(current, max(0, min(allowed)))
