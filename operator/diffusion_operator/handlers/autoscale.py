"""The SLA autoscaler: a kopf timer per autoscaled DiffusionService.

Each tick: read the Triton Deployment (edge) and Triton's queue signals from Prometheus (edge), call
the pure ``autoscaling.decide`` with the history kept in status, write ``spec.replicas`` of the
Deployment under the autoscaler's own field manager (the only writer of that field while
autoscaling is on), then write the autoscaler's part of the status and an Event per scale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf

from diffusion_operator import telemetry
from diffusion_operator.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.durations import parse_duration
from diffusion_operator.api.resource import DiffusionService, status_patch
from diffusion_operator.autoscaling import Decision, History, decide
from diffusion_operator.autoscaling.from_spec import policy_from_spec
from diffusion_operator.handlers.runtime import CONFIG, Runtime
from diffusion_operator.metrics.observe import SignalQueries, observe
from diffusion_operator.metrics.prometheus_client import PrometheusClient
from diffusion_operator.metrics.promql import TritonScope
from diffusion_operator.metrics.queue_models import queue_models
from diffusion_operator.reconcile.scaling_status import epoch, scaling_status
from diffusion_operator.render import names
from diffusion_operator.render.replicas import AUTOSCALER_FIELD_MANAGER

log = logging.getLogger(__name__)


def autoscaling_enabled(spec: kopf.Spec, **_: Any) -> bool:
    return bool((spec.get("autoscaling") or {}).get("enabled"))


async def read_signals(url: str, queries: SignalQueries, current: int, ready: int) -> Any:
    async with PrometheusClient(url, timeout_s=CONFIG.prometheus_timeout_seconds) as client:
        return await observe(client, queries, current_replicas=current, ready_replicas=ready)


def autoscale_once(runtime: Runtime, meta: dict[str, Any]) -> Decision | None:
    """One autoscaler tick for one service, under the service's lock (shared with the lifecycle)."""
    gateway, config = runtime.gateway, runtime.config
    name, namespace = meta["name"], meta["namespace"]
    with runtime.lock_for(meta["uid"]):
        body = gateway.get(API_VERSION, KIND, name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        service = DiffusionService.model_validate(body)
        spec = service.spec.autoscaling
        if not spec.enabled or spec.queue_latency_target is None:
            return None
        deployment = gateway.get("apps/v1", "Deployment", names.deployment_name(name), namespace)
        if deployment is None:
            return None  # nothing serves yet: the lifecycle reconcile creates it
        current = int((deployment.get("spec") or {}).get("replicas") or 0)
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        models = queue_models(service.spec.pipelines, override=config.queue_model)
        scope = TritonScope.of_models(namespace, name, models)
        url = spec.prometheus.url if spec.prometheus else config.prometheus_url
        queries = SignalQueries.for_scope(scope, config.metrics_window_seconds,
                                          activation_query=spec.activation.query if spec.activation else None)
        observation = asyncio.run(read_signals(url, queries, current, ready))
        now = datetime.now(UTC)
        policy = policy_from_spec(spec)
        history = History.from_dict(service.status.autoscaling.history.model_dump(by_alias=True)
                                    if service.status.autoscaling and service.status.autoscaling.history else None)
        decision = decide(observation, policy, history, epoch(now))
        if decision.changes_replicas:
            gateway.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": names.deployment_name(name), "namespace": namespace},
                           "spec": {"replicas": decision.replicas}}, field_manager=AUTOSCALER_FIELD_MANAGER)
        target = parse_duration(spec.queue_latency_target)
        new_status = scaling_status(service.status, decision, target=target,
                                    generation=int(body["metadata"].get("generation") or 0), now=now)
        patch = status_patch(new_status, service.status)
        if patch:
            gateway.patch_status(API_VERSION, KIND, name, namespace, patch)
        record(namespace, name, decision, target.total_seconds())
        if decision.changes_replicas:
            reason = Reason.SCALED_UP if decision.replicas > decision.previous_replicas else Reason.SCALED_DOWN
            kopf.event(kopf.Body(body), type="Normal", reason=reason,  # type: ignore[arg-type]
                       message=f"{decision.previous_replicas} -> {decision.replicas}: {decision.message}"[:1024])
        return decision


def record(namespace: str, service: str, decision: Decision, target_s: float) -> None:
    if decision.replicas > decision.previous_replicas:
        direction = "up"
    elif decision.replicas < decision.previous_replicas:
        direction = "down"
    else:
        direction = "hold"
    telemetry.SCALE_DECISIONS.labels(namespace, service, direction, decision.reason).inc()
    telemetry.QUEUE_TARGET_SECONDS.labels(namespace, service).set(target_s)
    if decision.observed_queue_latency_s is not None:
        telemetry.OBSERVED_QUEUE_SECONDS.labels(namespace, service).set(decision.observed_queue_latency_s)
    telemetry.DESIRED_REPLICAS.labels(namespace, service).set(decision.replicas)


@kopf.timer(GROUP, VERSION, PLURAL, interval=CONFIG.autoscale_interval_seconds, when=autoscaling_enabled,
            idle=None, initial_delay=1)
def autoscale(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    started = time.monotonic()
    decision = autoscale_once(memo.runtime, dict(body["metadata"]))
    if decision is not None:
        log.debug("autoscaled in %.3fs: %s", time.monotonic() - started, decision.reason)
