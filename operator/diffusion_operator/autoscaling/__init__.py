"""SLA autoscaling core: observation -> decision. Pure; ``now`` and history are arguments.

The kopf timer calls :func:`decide` with an :class:`Observation` built by ``metrics.observe``, the
policy from ``autoscaling.from_spec.policy_from_spec`` and the :class:`History` it keeps in status,
then writes ``decision.replicas`` and ``decision.history``.
"""

from diffusion_operator.autoscaling.decision import ConditionHint, Decision, decide
from diffusion_operator.autoscaling.demand import estimate_demand
from diffusion_operator.autoscaling.history import History
from diffusion_operator.autoscaling.observation import MetricsFailure, Observation
from diffusion_operator.autoscaling.policy import DirectionRules, FallbackMode, RateLimit, ScalingPolicy

__all__ = [
    "ConditionHint",
    "Decision",
    "DirectionRules",
    "FallbackMode",
    "History",
    "MetricsFailure",
    "Observation",
    "RateLimit",
    "ScalingPolicy",
    "decide",
    "estimate_demand",
]
