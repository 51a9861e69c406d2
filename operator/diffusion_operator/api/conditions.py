"""Condition types, their reasons as named constants, and the one pure function that sets a condition.

Each condition has one writer in the operator (noted per type below). Reasons are CamelCase constants
so handlers, Events, alerts and tests all spell them the same way; ``message`` carries the detail.
``lastTransitionTime`` moves only when ``status`` flips, as ``kubectl wait`` and humans expect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ConditionStatus = Literal["True", "False", "Unknown"]


class ConditionType:
    """Condition types (writer in brackets)."""

    READY = "Ready"  # [lifecycle] the service answers requests: engine ready and pods available
    ENGINE_READY = "EngineReady"  # [lifecycle] engines for the current cache key are published
    AVAILABLE = "Available"  # [lifecycle] at least the minimum of Triton pods is ready
    PROGRESSING = "Progressing"  # [lifecycle] a build or a rollout is under way
    SCALING_ACTIVE = "ScalingActive"  # [autoscaler] the autoscaler can compute a desired count
    SCALING_LIMITED = "ScalingLimited"  # [autoscaler] the desired count was clamped to min/max
    FALLBACK = "Fallback"  # [autoscaler] metrics are missing; replicas are held, not guessed
    DEGRADED = "Degraded"  # [lifecycle] serving, but something needs attention
    SPEED_TIER = "SpeedTier"  # [autoscaler] requests without their own steps are served with fewer steps
    ABLE_TO_SCALE = "AbleToScale"  # [autoscaler] its writes land: the count, the pods' ranking, the speed tier
    STEPS_QUALITY = "StepsQuality"  # [lifecycle] overload.minSteps is at or above the lowest passing step count


class Reason:
    """Condition and Event reasons; one constant per distinct thing a person would act on.

    The one vocabulary of the status: the lifecycle's conditions, the autoscaler's (which also end up
    in ``status.autoscaling.lastDecisionReason``, scale Events and the scale-decision metric, so
    dashboards and alerts can match on them) and the Warning Events of a failed reconcile.
    """

    # EngineReady
    ENGINE_BUILT = "EngineBuilt"
    BUILD_PENDING = "BuildPending"
    BUILDING = "Building"
    BUILD_FAILED = "BuildFailed"
    BUILD_TIMED_OUT = "BuildTimedOut"
    BUILD_WONT_FIT = "BuildWontFit"  # no node of the GPU pool has the memory the build asks for: no Job
    BUILD_OOM_KILLED = "BuildOOMKilled"  # the build pod outgrew its memory limit (the message names it)
    BUILD_RETRIED = "BuildRetried"  # that Job was deleted to build again: a build now gets more memory
    SECRET_NOT_FOUND = "SecretNotFound"
    QUALITY_GATE_FAILED = "QualityGateFailed"  # the engine's images missed a qualityGate threshold
    QUALITY_GATE_UNAVAILABLE = "QualityGateUnavailable"  # the gate could not score (the cause is in the message)
    # StepsQuality
    MIN_STEPS_ABOVE_QUALITY_FLOOR = "MinStepsAboveQualityFloor"
    MIN_STEPS_BELOW_QUALITY_FLOOR = "MinStepsBelowQualityFloor"
    NO_QUALITY_CURVE = "NoQualityCurve"
    # Available / Ready / Progressing / Degraded
    MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
    # Available: no pod ready and no start problem seen (a cold start); Degraded: serving, some pods cannot start
    REPLICAS_UNAVAILABLE = "ReplicasUnavailable"
    WAITING_FOR_ENGINE = "WaitingForEngine"
    # Available / Ready: a Triton pod cannot start until a person acts (START_PROBLEMS)
    IMAGE_PULL_FAILED = "ImagePullFailed"
    UNSCHEDULABLE = "Unschedulable"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    CONTAINER_CONFIG_INVALID = "ContainerConfigInvalid"
    CONTAINER_CANNOT_RUN = "ContainerCannotRun"
    SCALED_TO_ZERO = "ScaledToZero"  # also the autoscaler's, when it scaled the service to zero
    ROLLING_OUT = "RollingOut"
    NEW_ENGINE_BUILDING = "NewEngineBuilding"
    RECONCILED = "Reconciled"
    SERVING = "Serving"
    ROLLED_BACK = "RolledBack"
    # Warning Events of a reconcile that failed (no condition carries them)
    RECONCILE_ERROR = "ReconcileError"
    INVALID_SPEC = "InvalidSpec"
    # ScalingActive / ScalingLimited / Fallback and the autoscaler's decisions (never formatted)
    SCALED_UP = "ScaledUp"
    SCALED_DOWN = "ScaledDown"
    WITHIN_TOLERANCE = "WithinTolerance"
    AT_MAX_REPLICAS = "AtMaxReplicas"
    AT_MIN_REPLICAS = "AtMinReplicas"
    DESIRED_WITHIN_RANGE = "DesiredWithinRange"
    RATE_LIMITED = "RateLimited"
    STABILIZING = "Stabilizing"
    HOLDING_FOR_BURSTS = "HoldingForBursts"
    PREDICTIVE_FLOOR = "PredictiveFloor"  # the forecast's lower bound set the count (autoscaling/predictive.py)
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    FALLBACK_ACTIVE = "FallbackActive"
    WAITING_FOR_STARTING_REPLICAS = "WaitingForStartingReplicas"
    WOKE_FROM_ZERO = "WokeFromZero"
    VALID_METRICS = "ValidMetrics"
    # SpeedTier (autoscaling/speed_tier.py; MetricsUnavailable when the metrics fail)
    QUEUE_WILL_BREACH_SLA = "QueueWillBreachSLA"
    FULL_STEPS = "FullSteps"
    SPEED_TIER_DISABLED = "SpeedTierDisabled"
    # AbleToScale (autoscaling/status.py), as the HPA's: which of the autoscaler's writes the API refused
    READY_FOR_NEW_SCALE = "ReadyForNewScale"
    FAILED_UPDATE_SCALE = "FailedUpdateScale"
    FAILED_RESCALE = "FailedRescale"  # the Warning Event of a FailedUpdateScale (the HPA's Event reason)
    FAILED_UPDATE_DELETION_COST = "FailedUpdateDeletionCost"
    FAILED_SET_SPEED_TIER = "FailedSetSpeedTier"


#: A Triton container's waiting reason (the kubelet's word) that no wait will fix -> the reason the
#: ``Available`` condition carries for it; a pod the scheduler calls unschedulable is ``UNSCHEDULABLE``.
#: reconcile/observation.py reads pods with this table.
CONTAINER_START_PROBLEMS: Final[Mapping[str, str]] = MappingProxyType({
    "ImagePullBackOff": Reason.IMAGE_PULL_FAILED,
    "ErrImagePull": Reason.IMAGE_PULL_FAILED,
    "InvalidImageName": Reason.IMAGE_PULL_FAILED,
    "CrashLoopBackOff": Reason.CRASH_LOOP_BACK_OFF,
    "CreateContainerConfigError": Reason.CONTAINER_CONFIG_INVALID,
    "RunContainerError": Reason.CONTAINER_CANNOT_RUN,
})
#: ``Available=False`` with one of these reasons: the service's Triton pods cannot start, so the
#: activator answers the requests it holds at once (503) instead of letting them wait out their deadline.
START_PROBLEMS: Final = frozenset({*CONTAINER_START_PROBLEMS.values(), Reason.UNSCHEDULABLE})

#: Same shape as metav1.Condition's reason rule, so reasons sort and grep like the built-ins.
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(BaseModel):
    """One entry of ``status.conditions``, shaped like ``metav1.Condition``."""

    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True)

    type: str = Field(max_length=64, description="Condition type, e.g. Ready or EngineReady.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=128, pattern=REASON_PATTERN, description="CamelCase reason for the status.")
    message: str = Field(default="", max_length=4096, description="Human-readable detail.")
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation this condition was computed from."
    )


def set_condition(
    conditions: Sequence[Condition],
    *,
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None,
    now: datetime,
) -> list[Condition]:
    """Conditions with ``type`` set; the transition time is kept unless ``status`` flips.

    Returns a new list in the original order (a new type is appended), so an unchanged result
    compares equal to the input and the caller can skip the status write.
    """
    def condition(transition: datetime) -> Condition:
        return Condition(type=type, status=status, reason=reason, message=message,
                         last_transition_time=transition, observed_generation=observed_generation)

    updated: list[Condition] = []
    found = False
    for existing in conditions:
        if existing.type != type:
            updated.append(existing)
            continue
        found = True
        updated.append(condition(existing.last_transition_time if existing.status == status else now))
    if not found:
        updated.append(condition(now))
    return updated


def find_condition(conditions: Sequence[Condition], type: str) -> Condition | None:
    """The condition of ``type``, or None."""
    return next((c for c in conditions if c.type == type), None)


def is_true(conditions: Sequence[Condition], type: str) -> bool:
    condition = find_condition(conditions, type)
    return condition is not None and condition.status == "True"
