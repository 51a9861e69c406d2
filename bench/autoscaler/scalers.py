"""The scalers under test. Each is a callable from a ClusterView (Kubernetes + Prometheus) to replicas.

* ``ours``   — the operator's real ``decide`` with its default policy, fed the PromQL signals
  (``metrics.promql``) as Prometheus would evaluate them over the scraped samples.
* ``hpa``    — Kubernetes HPA as Triton's k8s-onprem chart configures it: a Pods metric
  ``avg(delta(queue_us[30s]) / (1 + delta(success[30s]))) by (pod)`` with an AverageValue target,
  autoscaling/v2 default behaviour. Run at the chart's own target (50 µs) and at our SLA.
* ``keda``   — KEDA's Prometheus scaler: ``sum(nv_inference_pending_request_count)`` against an
  AverageValue threshold of pending requests per replica (the queue-length recipe), HPA underneath;
  an empty or failed query reads as 0 (``ignoreNullValues`` default).
* ``oracle`` — knows the trace's intensity; provisions the capacity model's minimum one cold start ahead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from diffusion_operator.autoscaling import History, MetricsFailure, Observation, ScalingPolicy, decide
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla

from bench.autoscaler.fleet import ClusterView
from bench.autoscaler.hpa import HpaBehavior, external_average_value_replicas, pods_metric_replicas
from bench.autoscaler.model import NODE_PROVISIONING_S, FleetConfig
from bench.autoscaler.traces import Trace

# The operator's query window (SignalQueries.for_scope's default): rates and deriv(pending) share it.
RATE_WINDOW_S = 60.0
PENDING_DERIV_WINDOW_S = RATE_WINDOW_S
EPSILON = 1e-9


def default_policy(config: FleetConfig) -> ScalingPolicy:
    """The operator's defaults for this deployment: only the deployment's facts are filled in."""
    return ScalingPolicy(
        min_replicas=config.min_replicas,
        max_replicas=config.max_replicas,
        queue_latency_target_s=config.sla_s,
        expected_service_time_s=config.curve.single_s,
    )


def observe(view: ClusterView) -> Observation:
    """Evaluate the operator's PromQL signals against the scraped samples (see metrics.promql)."""
    prom, now = view.prometheus, view.now
    if not prom.reachable(now):
        return Observation.failed(MetricsFailure.UNREACHABLE, "connection refused", view.spec_replicas,
                                  view.ready_replicas)
    success = prom.increase("success", now, RATE_WINDOW_S)
    queue_us = prom.increase("queue_us", now, RATE_WINDOW_S)
    service_us = prom.increase("service_us", now, RATE_WINDOW_S)
    inferences = prom.increase("inference_count", now, RATE_WINDOW_S)
    executions = prom.increase("exec_count", now, RATE_WINDOW_S)
    pending = prom.latest("pending", now)
    growth = prom.deriv("pending", now, PENDING_DERIV_WINDOW_S)
    if success is None or queue_us is None or pending is None:
        return Observation.failed(MetricsFailure.EMPTY_RESULT, "no samples in window", view.spec_replicas,
                                  view.ready_replicas)
    completions = max(success, EPSILON)
    arrival = max(0.0, success / RATE_WINDOW_S + (growth or 0.0))
    return Observation(
        current_replicas=view.spec_replicas,
        ready_replicas=view.ready_replicas,
        queue_latency_s=queue_us / completions / 1e6,
        pending_requests=pending,
        arrival_rate=arrival,
        service_time_s=(service_us or 0.0) / completions / 1e6,
        batch_size=(inferences or 0.0) / max(executions or 0.0, EPSILON) if executions else None,
    )


@dataclass
class OurScaler:
    policy: ScalingPolicy
    history: History = field(default_factory=History)
    reasons: list[str] = field(default_factory=list)

    def __call__(self, view: ClusterView) -> int:
        decision = decide(observe(view), self.policy, self.history, view.now)
        # Round-trip through the status dict, as the operator stores it.
        self.history = History.from_dict(decision.history.to_dict())
        self.reasons.append(decision.reason)
        return decision.replicas


@dataclass
class HpaScaler:
    """Triton k8s-onprem chart: Pods metric, AverageValue target in microseconds."""

    target_us: float
    behavior: HpaBehavior

    def __call__(self, view: ClusterView) -> int:
        values = view.prometheus.triton_chart_pod_values(view.now, set(view.live_pods))
        desired = pods_metric_replicas(view.spec_replicas, self.target_us, values, view.live_pods)
        if desired is None:
            return view.spec_replicas  # FailedGetPodsMetric: the HPA leaves replicas alone
        return self.behavior.normalize(desired, view.spec_replicas, view.now)


@dataclass
class KedaScaler:
    """KEDA Prometheus scaler on pending requests, AverageValue threshold per replica."""

    threshold: float
    behavior: HpaBehavior

    def __call__(self, view: ClusterView) -> int:
        reachable = view.prometheus.reachable(view.now)
        pending = view.prometheus.latest("pending", view.now) if reachable else None
        total = pending if pending is not None else 0.0  # KEDA's default: no data reads as 0
        desired = external_average_value_replicas(view.spec_replicas, total, self.threshold)
        return self.behavior.normalize(desired, view.spec_replicas, view.now)


@dataclass
class OracleScaler:
    """Knows the future: at each sync, the capacity model's need over the next cold start + sync."""

    schedule: list[int]  # replicas needed for each second of the trace
    lead_s: int

    @classmethod
    def for_trace(cls, trace: Trace, config: FleetConfig) -> OracleScaler:
        service = config.curve.single_s
        cache: dict[float, int] = {}
        schedule = []
        for rate in trace.intensity:
            key = round(float(rate), 3)
            if key not in cache:
                cache[key] = replicas_for_queue_sla(key, service, config.sla_s, 0.99, 0.1)
            schedule.append(max(config.min_replicas, cache[key]))
        # Lead by the longest a new pod can take to serve: cold start, plus node provisioning if modelled.
        provisioning = NODE_PROVISIONING_S[1] if config.node_provisioning else 0.0
        lead = math.ceil(config.cold_start_s + provisioning + config.sync_interval_s + 10)
        return cls(schedule, lead)

    def __call__(self, view: ClusterView) -> int:
        start = int(view.now)
        horizon = self.schedule[start:start + self.lead_s] or [self.schedule[-1]]
        return max(horizon)
