"""The SLA autoscaler: a kopf timer per autoscaled DiffusionService, wiring observe -> plan -> apply.

Each tick, under the service's lock (shared with the lifecycle): read the service and its fleet
(k8s/autoscaler.py) and the signals (metrics/observe.py), plan the tick (autoscaling/tick.py, pure),
apply the plan (the count, the pods' ranking, the speed tier), then write the status with what the
writes did and post the Events. The timer is async on kopf's event loop and reads Prometheus through
the runtime's one HTTP session; the Kubernetes client is synchronous, so its calls run in threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf

from diffusion_operator import telemetry
from diffusion_operator.api import GROUP, PLURAL, VERSION
from diffusion_operator.api.resource import ServiceRef
from diffusion_operator.autoscaling.tick import TickPlan, plan_tick, settle
from diffusion_operator.handlers.lifecycle import post_event
from diffusion_operator.handlers.runtime import CONFIG, Runtime
from diffusion_operator.k8s.autoscaler import read_tick, write_plan, write_status
from diffusion_operator.metrics.observe import SignalQueries, observe, service_scope
from diffusion_operator.metrics.pod_work import read_pod_work
from diffusion_operator.metrics.prometheus_client import PrometheusClient
from diffusion_operator.triton.speed_tier import apply_tier

log = logging.getLogger(__name__)


def autoscaling_enabled(spec: kopf.Spec, **_: Any) -> bool:
    return bool((spec.get("autoscaling") or {}).get("enabled"))


async def autoscale_once(runtime: Runtime, ref: ServiceRef) -> TickPlan | None:
    """One tick for one service: observe -> plan -> apply -> status and Events."""
    config, gateway = runtime.config, runtime.gateway
    async with runtime.locked(ref.uid):
        read = await asyncio.to_thread(read_tick, gateway, ref)
        if read is None:
            return None
        service, fleet = read
        url = service.spec.autoscaling.prometheus_url(config.prometheus_url)
        async with PrometheusClient(url, timeout_s=config.prometheus_timeout_seconds,
                                    session=runtime.prometheus) as client:
            queries = SignalQueries.for_service(service, config.metrics_window_seconds, config.queue_model)
            observation = await observe(client, queries, current_replicas=fleet.replicas, ready_replicas=fleet.ready)
            now = datetime.now(UTC)
            plan = plan_tick(service, fleet, observation, now, interval_s=config.autoscale_interval_seconds)
            work = None if plan.ranking is None else await read_pod_work(
                client, service_scope(service, config.queue_model), config.metrics_window_seconds)
        failures = await asyncio.to_thread(write_plan, gateway, service.ref, plan, work)
        if plan.speed_tier is not None and runtime.prometheus is not None:
            failures.append(await apply_tier(runtime.prometheus, plan.speed_tier))
        status, notices = settle(plan, service, tuple(f for f in failures if f is not None), now)
        await asyncio.to_thread(write_status, gateway, service, status)
        for notice in notices:
            post_event(ref, type=notice.type, reason=notice.reason, message=notice.message)
        telemetry.record_cold_start(ref.namespace, ref.name, plan.cold_start.seconds)
        telemetry.record_scale_decision(ref.namespace, ref.name, plan.decision, plan.target_s)
        return plan


@kopf.timer(GROUP, VERSION, PLURAL, interval=CONFIG.autoscale_interval_seconds, when=autoscaling_enabled,
            idle=None, initial_delay=1)
async def autoscale(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    started = time.monotonic()
    plan = await autoscale_once(memo.runtime, ServiceRef.of(body))
    if plan is not None:
        log.debug("autoscaled in %.3fs: %s", time.monotonic() - started, plan.decision.reason)
