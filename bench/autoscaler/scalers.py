"""The scalers under test. Each is a callable from a ClusterView (Kubernetes + Prometheus) to replicas.

* ``ours``   — the operator's real ``decide`` with its default policy, fed the PromQL signals
  (``metrics.promql``) as Prometheus would evaluate them over the scraped samples.
* ``hpa``    — Kubernetes HPA as Triton's k8s-onprem chart configures it: a Pods metric
  ``avg(delta(queue_us[30s]) / (1 + delta(success[30s]))) by (pod)`` with an AverageValue target,
  autoscaling/v2 default behaviour. Run at the chart's own target (50 µs) and at our SLA.
* ``keda``   — KEDA's Prometheus scaler: ``sum(nv_inference_pending_request_count)`` against an
  AverageValue ``threshold`` of pending requests per replica (the queue-length recipe), HPA underneath
  (autoscaling/v2 default behaviour, 15 s sync; the metrics server queries Prometheus on each HPA
  read, ``useCachedMetrics: false``); an empty or failed query reads as 0 (``ignoreNullValues``
  default). The operator part polls every ``pollingInterval`` (30 s): at zero replicas it activates
  to one when the value exceeds ``activationThreshold``; below ``minReplicaCount`` it never goes.
* ``static`` — provisioning for the trace's peak: the capacity model's need at the highest intensity,
  all of it warm from the start and never changed (what a fleet without an autoscaler pays).
* ``oracle`` — knows the trace's intensity; provisions the capacity model's minimum one cold start ahead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from diffusion_operator.autoscaling import History, MetricsFailure, Observation, ScalingPolicy, decide
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla
from diffusion_operator.autoscaling.cold_start import ColdStart, PodStart

from bench.autoscaler.fleet import ClusterView
from bench.autoscaler.hpa import HpaBehavior, external_average_value_replicas, pods_metric_replicas
from bench.autoscaler.model import NODE_PROVISIONING_S, FleetConfig
from bench.autoscaler.traces import COMPRESSED_DAY_S, Trace

# The operator's query window (SignalQueries.for_scope's default): rates and deriv(pending) share it.
RATE_WINDOW_S = 60.0
EPSILON = 1e-9
PIPELINE_STEPS = 30  # spec.pipeline.steps default: the fleet's 9 s per image


def default_policy(config: FleetConfig) -> ScalingPolicy:
    """The operator's defaults for this deployment: only the deployment's facts are filled in.

    The forecast's season is the benchmark's compressed day on every trace (the weekly trace's day;
    the others have no such period, which the forecast's error gate has to notice by itself).
    """
    return ScalingPolicy(
        min_replicas=config.min_replicas,
        max_replicas=config.max_replicas,
        queue_latency_target_s=config.sla_s,
        expected_service_time_s=config.curve.single_s,
        forecast_season_s=float(COMPRESSED_DAY_S),
        cold_start_s=config.cold_start_s,
    )


def observe(view: ClusterView, window_s: float = RATE_WINDOW_S) -> Observation:
    """Evaluate the operator's PromQL signals over ``window_s`` against the scraped samples (metrics.promql)."""
    prom, now = view.prometheus, view.now
    if not prom.reachable(now):
        return Observation.failed(MetricsFailure.UNREACHABLE, "connection refused", view.spec_replicas,
                                  view.ready_replicas)
    success = prom.increase("success", now, window_s)
    queue_us = prom.increase("queue_us", now, window_s)
    service_us = prom.increase("service_us", now, window_s)
    inferences = prom.increase("inference_count", now, window_s)
    executions = prom.increase("exec_count", now, window_s)
    steps = prom.increase("steps", now, window_s)
    pending = prom.latest("pending", now)
    growth = prom.deriv("pending", now, window_s)
    if success is None or queue_us is None or pending is None:
        return Observation.failed(MetricsFailure.EMPTY_RESULT, "no samples in window", view.spec_replicas,
                                  view.ready_replicas)
    completions = max(success, EPSILON)
    arrival = max(0.0, success / window_s + (growth or 0.0))
    return Observation(
        current_replicas=view.spec_replicas,
        ready_replicas=view.ready_replicas,
        queue_latency_s=queue_us / completions / 1e6,
        pending_requests=pending,
        arrival_rate=arrival,
        service_time_s=(service_us or 0.0) / completions / 1e6,
        batch_size=(inferences or 0.0) / max(executions or 0.0, EPSILON) if executions else None,
        # The pipeline's steps counter over requests, in 30-step units (what diffusion_steps_total reads).
        steps_per_request=PIPELINE_STEPS * steps / completions if steps and success else None,
    )


@dataclass
class OurScaler:
    """The operator's decision; with ``policy.speed_tier`` set, the fleet serves its speed tier too.

    The tier reaches the pods at the decision (the operator pushes it to each pod's control model in
    well under a second); ``step_factor`` is what the fleet reads after each sync.
    """

    policy: ScalingPolicy
    history: History = field(default_factory=History)
    reasons: list[str] = field(default_factory=list)
    step_factor: float = 1.0
    cold_start: ColdStart = field(default_factory=ColdStart)
    learn_cold_start: bool = True
    rate_window_s: float = RATE_WINDOW_S  # DIFFUSION_METRICS_WINDOW_SECONDS

    def __call__(self, view: ClusterView) -> int:
        # The learned cold start, as the operator measures it from its pods (autoscaling/cold_start.py).
        if self.learn_cold_start:
            self.cold_start = self.cold_start.with_pods(PodStart(str(pod), s) for pod, s in view.pod_starts)
        learned = self.cold_start.seconds
        policy = self.policy if learned is None else replace(self.policy, cold_start_s=learned)
        decision = decide(observe(view, self.rate_window_s), policy, self.history, view.now)
        # Round-trip through the status dict, as the operator stores it.
        self.history = History.from_dict(decision.history.to_dict())
        self.reasons.append(decision.reason)
        steps, tier = decision.speed_tier_steps, self.policy.speed_tier
        self.step_factor = 1.0 if steps is None or tier is None else steps / tier.default_steps
        return decision.replicas


@dataclass
class HpaScaler:
    """Triton k8s-onprem chart: Pods metric, AverageValue target in microseconds."""

    target_us: float
    behavior: HpaBehavior
    window_s: float = 30.0  # the chart's delta(...[30s])
    #: Each sync as the real HPA's status reports it: (now, the metric's average over the pods that had
    #: one in µs, or None; the replicas decided). Sim-to-real compares it with the real HPA's status.
    syncs: list[tuple[float, float | None, int]] = field(default_factory=list)

    def __call__(self, view: ClusterView) -> int:
        values = view.prometheus.triton_chart_pod_values(view.now, set(view.live_pods), self.window_s)
        desired = pods_metric_replicas(view.spec_replicas, self.target_us, values, view.live_pods)
        if desired is None:
            self.syncs.append((view.now, None, view.spec_replicas))
            return view.spec_replicas  # FailedGetPodsMetric: the HPA leaves replicas alone
        final = self.behavior.normalize(desired, view.spec_replicas, view.now)
        self.syncs.append((view.now, sum(values.values()) / len(values), final))
        return final


KEDA_POLLING_INTERVAL_S = 30.0  # ScaledObject pollingInterval default
KEDA_COOLDOWN_S = 300.0  # ScaledObject cooldownPeriod default (only used on the way to zero)


@dataclass
class KedaScaler:
    """KEDA's Prometheus scaler on pending requests: AverageValue ``threshold`` per replica, HPA underneath.

    ``activation_threshold`` and the polling loop matter only at zero (``min_replica_count`` 0): KEDA
    wakes a scaled-to-zero target at its next poll after the value exceeds the activation threshold,
    and scales to zero after ``cooldown_s`` without an active trigger. Above zero the HPA decides.
    """

    threshold: float
    behavior: HpaBehavior
    activation_threshold: float = 0.0
    min_replica_count: int = 1
    polling_interval_s: float = KEDA_POLLING_INTERVAL_S
    cooldown_s: float = KEDA_COOLDOWN_S
    last_poll: float = -math.inf
    last_active: float = -math.inf

    def _value(self, view: ClusterView) -> float:
        reachable = view.prometheus.reachable(view.now)
        pending = view.prometheus.latest("pending", view.now) if reachable else None
        return pending if pending is not None else 0.0  # ignoreNullValues: no data reads as 0

    def __call__(self, view: ClusterView) -> int:
        value = self._value(view)
        if view.now - self.last_poll >= self.polling_interval_s:
            self.last_poll = view.now
            if value > self.activation_threshold:
                self.last_active = view.now
        if view.spec_replicas == 0:
            return 1 if self.last_active == self.last_poll == view.now else 0
        if self.min_replica_count == 0 and view.now - self.last_active >= self.cooldown_s:
            return 0
        desired = external_average_value_replicas(view.spec_replicas, value, self.threshold)
        return max(self.behavior.normalize(desired, view.spec_replicas, view.now), self.min_replica_count, 1)


@dataclass
class StaticScaler:
    """Provisioned for the trace's peak and left alone."""

    replicas: int

    @classmethod
    def for_trace(cls, trace: Trace, config: FleetConfig) -> StaticScaler:
        return cls(max(OracleScaler.for_trace(trace, config).schedule))

    def __call__(self, view: ClusterView) -> int:
        return self.replicas


@dataclass
class OracleScaler:
    """Knows the future: at each sync, the capacity model's need over the next cold start + sync."""

    schedule: list[int]  # replicas needed for each second of the trace
    lead_s: int

    @classmethod
    def for_trace(cls, trace: Trace, config: FleetConfig) -> OracleScaler:
        service, cv2 = config.curve.single_s, 0.1
        if trace.sizes is not None:  # it knows the request sizes too
            service *= float(trace.sizes.mean())
            cv2 = float(trace.sizes.var() / trace.sizes.mean() ** 2) + cv2
        cache: dict[float, int] = {}
        schedule = []
        for rate in trace.intensity:
            key = round(float(rate), 3)
            if key not in cache:
                cache[key] = replicas_for_queue_sla(key, service, config.sla_s, 0.99, cv2)
            schedule.append(max(config.min_replicas, cache[key]))
        # Lead by the longest a new pod can take to serve: cold start, plus node provisioning if modelled.
        provisioning = NODE_PROVISIONING_S[1] if config.node_provisioning else 0.0
        lead = math.ceil(config.cold_start_s + provisioning + config.sync_interval_s + 10)
        return cls(schedule, lead)

    def __call__(self, view: ClusterView) -> int:
        start = int(view.now)
        horizon = self.schedule[start:start + self.lead_s] or [self.schedule[-1]]
        return max(horizon)
