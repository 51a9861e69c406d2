"""The SLA autoscaler: a kopf timer per autoscaled DiffusionService.

Each tick: read the Triton Deployment (edge) and Triton's queue signals from Prometheus (edge), call
the pure ``autoscaling.decide`` with the history kept in status, write ``spec.replicas`` of the
Deployment under the autoscaler's own field manager (the only writer of that field while
autoscaling is on; before a scale-down it also ranks the pods by their work now, through their
deletion cost, so the idle ones go), then write the autoscaler's part of the status and an Event per scale.

The timer is async on kopf's event loop and reads Prometheus through the runtime's one HTTP
session; the Kubernetes client is synchronous, so its calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from diffusion_operator import telemetry
from diffusion_operator.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.durations import parse_duration
from diffusion_operator.api.resource import DiffusionService, ServiceRef, status_patch
from diffusion_operator.autoscaling import Decision, History, decide
from diffusion_operator.autoscaling.cold_start import ColdStart
from diffusion_operator.autoscaling.deletion_cost import DELETION_COST_ANNOTATION, deletion_costs
from diffusion_operator.autoscaling.from_spec import policy_from_spec
from diffusion_operator.handlers.runtime import CONFIG, Runtime
from diffusion_operator.k8s.gateway import KubeError
from diffusion_operator.k8s.pod_starts import pod_starts
from diffusion_operator.metrics.observe import SignalQueries, observe, service_scope
from diffusion_operator.metrics.pod_work import read_pod_work
from diffusion_operator.metrics.prometheus_client import PrometheusClient
from diffusion_operator.reconcile.scaling_status import epoch, scaling_status
from diffusion_operator.render import names
from diffusion_operator.render.replicas import (
    AUTOSCALER_FIELD_MANAGER,
    build_pod_deletion_cost,
    build_replicas_only,
)
from diffusion_operator.triton.speed_tier import ready_pod_urls, send_tier

log = logging.getLogger(__name__)


def autoscaling_enabled(spec: kopf.Spec, **_: Any) -> bool:
    return bool((spec.get("autoscaling") or {}).get("enabled"))


@dataclass(frozen=True)
class Tick:
    """What one tick read from the API server: the service and its Deployment's counts."""

    body: dict[str, Any]
    service: DiffusionService
    current: int
    ready: int
    pods: list[dict[str, Any]] | None = None  # listed only when a pod may have become Ready since


def read_tick(runtime: Runtime, ref: ServiceRef) -> Tick | None:
    """The service and its Deployment, or None when there is nothing to scale (yet)."""
    gateway = runtime.gateway
    body = gateway.get(API_VERSION, KIND, ref.name, ref.namespace)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    service = DiffusionService.model_validate(body)
    spec = service.spec.autoscaling
    if not spec.enabled or spec.queue_latency_target is None:
        return None
    deployment = gateway.get("apps/v1", "Deployment", names.deployment_name(ref.name), ref.namespace)
    if deployment is None:
        return None  # nothing serves yet: the lifecycle reconcile creates it
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    return Tick(body, service, current=int((deployment.get("spec") or {}).get("replicas") or 0), ready=ready,
                pods=gateway.pods_of(ref.namespace, names.selector_string(ref.name))
                if _pods_may_have_started(service, ready) or _speed_tier_on(service) else None)


def _speed_tier_on(service: DiffusionService) -> bool:
    """While the tier is on, every tick refreshes it on every ready pod (their addresses come from the list)."""
    autoscaling = service.status.autoscaling
    return bool(autoscaling and autoscaling.history and autoscaling.history.speed_tier_since is not None)


def _pods_may_have_started(service: DiffusionService, ready: int) -> bool:
    """List pods (for the cold start) only when the ready count moved or nothing was measured yet.

    The lifecycle writes ``status.readyReplicas`` when the Deployment changes, so a pod that just became
    Ready shows as a difference for a tick or two; a steady fleet costs no list call per tick.
    """
    status = service.status
    measured = status.autoscaling is not None and status.autoscaling.cold_start is not None
    return ready > 0 and (not measured or ready != (status.ready_replicas or 0))


def write_deletion_costs(runtime: Runtime, ref: ServiceRef, costs: dict[str, int]) -> None:
    """Each Triton pod's deletion cost, under the autoscaler's field manager (its one writer)."""
    for pod, cost in costs.items():
        try:
            runtime.gateway.apply(build_pod_deletion_cost(pod, ref.namespace, DELETION_COST_ANNOTATION, cost),
                                  field_manager=AUTOSCALER_FIELD_MANAGER)
        except KubeError as error:  # the pod went away meanwhile: nothing to rank
            log.debug("deletion cost of %s not written: %s", pod, error)


async def rank_pods_for_scale_down(runtime: Runtime, client: PrometheusClient, tick: Tick) -> None:
    """Before a scale-down: the idle pods get the lowest deletion cost, so they are the ones removed."""
    scope = service_scope(tick.service, runtime.config.queue_model)
    work = await read_pod_work(client, scope, runtime.config.metrics_window_seconds)
    if work is None:
        return
    pods = await asyncio.to_thread(runtime.gateway.pods_of, tick.service.ref.namespace,
                                   names.selector_string(tick.service.ref.name))
    live = [p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")]
    await asyncio.to_thread(write_deletion_costs, runtime, tick.service.ref, deletion_costs(live, *work))


def write_tick(runtime: Runtime, tick: Tick, decision: Decision, now: datetime, cold_start: ColdStart) -> None:
    """The Deployment's count (when it changes), then the autoscaler's part of the status."""
    gateway, ref, spec = runtime.gateway, tick.service.ref, tick.service.spec.autoscaling
    if decision.changes_replicas:
        gateway.apply(build_replicas_only(names.deployment_name(ref.name), ref.namespace, decision.replicas),
                      field_manager=AUTOSCALER_FIELD_MANAGER)
    assert spec.queue_latency_target is not None  # read_tick returns only services with a target
    new_status = scaling_status(tick.service.status, decision, target=parse_duration(spec.queue_latency_target),
                                generation=tick.service.generation, now=now, cold_start=cold_start)
    patch = status_patch(new_status, tick.service.status)
    if patch:
        gateway.patch_status(API_VERSION, KIND, ref.name, ref.namespace, patch)


async def autoscale_once(runtime: Runtime, ref: ServiceRef) -> Decision | None:
    """One autoscaler tick for one service, under the service's lock (shared with the lifecycle)."""
    async with runtime.locked(ref.uid):
        tick = await asyncio.to_thread(read_tick, runtime, ref)
        if tick is None:
            return None
        config, spec = runtime.config, tick.service.spec.autoscaling
        queries = SignalQueries.for_service(tick.service, config.metrics_window_seconds, config.queue_model)
        url = spec.prometheus.url if spec.prometheus else config.prometheus_url
        client = PrometheusClient(url, timeout_s=config.prometheus_timeout_seconds, session=runtime.prometheus)
        async with client:
            observation = await observe(client, queries, current_replicas=tick.current, ready_replicas=tick.ready)
            now = datetime.now(UTC)
            status = tick.service.status.autoscaling
            history = History.from_dict(status.history.model_dump(by_alias=True) if status and status.history
                                        else None)
            cold = ColdStart.from_dict(status.cold_start.model_dump() if status and status.cold_start else None)
            cold = cold.with_pods(pod_starts(tick.pods or ()))
            policy = policy_from_spec(spec, pipeline_steps=tick.service.spec.pipeline.steps,
                                      cold_start_s=cold.seconds)
            decision = decide(observation, policy, history, epoch(now))
            if 0 < decision.replicas < decision.previous_replicas:
                await rank_pods_for_scale_down(runtime, client, tick)
        await asyncio.to_thread(write_tick, runtime, tick, decision, now, cold)
        if (decision.speed_tier_steps is not None or _speed_tier_on(tick.service)) and runtime.prometheus:
            failed = await send_tier(runtime.prometheus, ready_pod_urls(tick.pods or ()),
                                     decision.speed_tier_steps or 0)
            for line in failed:
                log.warning("speed tier not set on %s/%s: %s", ref.namespace, ref.name, line)
        telemetry.record_cold_start(ref.namespace, ref.name, cold.seconds)
        assert spec.queue_latency_target is not None
        telemetry.record_scale_decision(ref.namespace, ref.name, decision,
                                        parse_duration(spec.queue_latency_target).total_seconds())
        if decision.changes_replicas:
            reason = Reason.SCALED_UP if decision.replicas > decision.previous_replicas else Reason.SCALED_DOWN
            kopf.event(kopf.Body(tick.body), type="Normal", reason=reason,  # type: ignore[arg-type]
                       message=f"{decision.previous_replicas} -> {decision.replicas}: {decision.message}"[:1024])
        return decision


@kopf.timer(GROUP, VERSION, PLURAL, interval=CONFIG.autoscale_interval_seconds, when=autoscaling_enabled,
            idle=None, initial_delay=1)
async def autoscale(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    started = time.monotonic()
    decision = await autoscale_once(memo.runtime, ServiceRef.of(body))
    if decision is not None:
        log.debug("autoscaled in %.3fs: %s", time.monotonic() - started, decision.reason)
