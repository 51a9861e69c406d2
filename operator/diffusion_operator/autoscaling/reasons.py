"""Reason constants for autoscaling decisions and the condition types they feed.

Kubernetes-style CamelCase strings: they end up in `status.lastDecisionReason`, in condition reasons and
in Events, so dashboards and alerts can match on them. One constant per outcome; never format them.
"""

from __future__ import annotations

from typing import Final

SCALED_UP: Final = "ScaledUp"
SCALED_DOWN: Final = "ScaledDown"
WITHIN_TOLERANCE: Final = "WithinTolerance"
AT_MAX_REPLICAS: Final = "AtMaxReplicas"
AT_MIN_REPLICAS: Final = "AtMinReplicas"
RATE_LIMITED: Final = "RateLimited"
STABILIZING: Final = "Stabilizing"
HOLDING_FOR_BURSTS: Final = "HoldingForBursts"
METRICS_UNAVAILABLE: Final = "MetricsUnavailable"
FALLBACK_ACTIVE: Final = "FallbackActive"
WAITING_FOR_STARTING_REPLICAS: Final = "WaitingForStartingReplicas"
SCALED_TO_ZERO: Final = "ScaledToZero"
WOKE_FROM_ZERO: Final = "WokeFromZero"
VALID_METRICS: Final = "ValidMetrics"

# Condition types the decision gives hints for (the status writer owns lastTransitionTime).
SCALING_ACTIVE: Final = "ScalingActive"
SCALING_LIMITED: Final = "ScalingLimited"
FALLBACK: Final = "Fallback"
