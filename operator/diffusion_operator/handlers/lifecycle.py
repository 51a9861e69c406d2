"""Reconcile DiffusionServices: on create/update/resume, on their children's events, and on a slow timer.

Every path runs the same level-based ``reconcile_service``: observe the children (k8s/observe.py),
``decide`` and ``desired_children`` (pure, reconcile/), apply that (k8s/children.py), write the
status only when it changed, and post an Event per condition transition. Repeating it after a
crash is always safe. This module is the wiring; the child events live in handlers/children.py.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from diffusion_operator import telemetry
from diffusion_operator.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.resource import DiffusionService, ServiceRef, status_patch
from diffusion_operator.api.status import Endpoints
from diffusion_operator.engines.build_memory import build_memory
from diffusion_operator.engines.build_resources import build_resources
from diffusion_operator.engines.plan import plan_for
from diffusion_operator.handlers.runtime import CONFIG, Runtime
from diffusion_operator.k8s.children import apply_desired
from diffusion_operator.k8s.gateway import KubeError
from diffusion_operator.k8s.observe import observe
from diffusion_operator.reconcile.children import desired_children
from diffusion_operator.reconcile.decide import Decision, decide
from diffusion_operator.render import names
from diffusion_operator.render.engine_job import build_node_selector
from diffusion_operator.render.service import endpoints

log = logging.getLogger(__name__)
#: Back off this long after an API error before kopf retries the handler.
RETRY_DELAY_SECONDS = 10


def post_event(service: ServiceRef, *, type: str, reason: str, message: str) -> None:
    kopf.event(kopf.Body(service.as_object()), type=type, reason=reason, message=message)  # type: ignore[arg-type]


def reconcile_service(runtime: Runtime, body: Mapping[str, Any], *, force: bool = False) -> Decision:
    """Observe -> decide -> apply -> report, for one DiffusionService body.

    ``force`` (spec events and the resync timer) re-sends the serving children even when their hash
    says nothing changed.
    """
    gateway, config = runtime.gateway, runtime.config
    service = DiffusionService.model_validate(dict(body))
    ref = service.ref
    plan = plan_for(service.spec, config.tensorrt_version, config.build_backend)
    key = plan.cache_key()
    settings = runtime.render_settings
    build = build_resources(service.spec.engine.build_resources, build_memory(plan), config.build_requests)
    known = service.status.engine
    obs = observe(gateway, ref.namespace, ref.name, key,
                  summary_known=bool(known and known.cache_key == key and known.state == "Succeeded"),
                  build_node_selector=build_node_selector(plan, settings))
    decision = decide(
        service, obs, cache_key=key, selector=names.selector_string(ref.name),
        endpoints=Endpoints(**endpoints(ref.name, ref.namespace)), now=datetime.now(UTC), build=build,
        rollback_after=timedelta(seconds=config.rollback_after_seconds),
    )
    desired = desired_children(service, obs, decision, plan, settings, force=force)
    if desired.build is not None and desired.build.start:
        telemetry.ENGINE_BUILDS.labels(ref.namespace, "started").inc()
    apply_desired(gateway, desired, obs.desired_job)
    patch = status_patch(decision.status, service.status)
    if patch:
        gateway.patch_status(API_VERSION, KIND, ref.name, ref.namespace, patch)
    for note in decision.events:
        post_event(ref, type=note.type, reason=note.reason, message=note.message)
    telemetry.record_build_outcome(ref.namespace, {note.reason for note in decision.events},
                                   obs.desired_job.duration_s)
    status = decision.status
    telemetry.record_service(ref.namespace, ref.name, phase=status.phase, desired=status.desired_replicas,
                             ready=status.ready_replicas)
    telemetry.record_quality(ref.namespace, ref.name, status.engine.quality if status.engine else None)
    return decision


def run_reconcile(runtime: Runtime, service: ServiceRef, *, force: bool,
                  body: Mapping[str, Any] | None = None) -> float | None:
    """``reconcile_service`` under the service's lock, with errors turned into Events and retries.

    Without ``body`` the object is read first: a body handed over earlier may predate a status
    another path just wrote. Returns the decision's ``requeue_after``: when to look again even if
    no event comes.
    """
    started = time.monotonic()
    with runtime.lock_for(service.uid):
        if body is None:
            body = runtime.gateway.get(API_VERSION, KIND, service.name, service.namespace)
            if body is None or body["metadata"].get("uid") != service.uid \
                    or body["metadata"].get("deletionTimestamp"):
                return None
        try:
            decision = reconcile_service(runtime, body, force=force)
        except ValidationError as err:
            # The API server's schema and CEL rules should make this impossible; if an object predates
            # them, say so on the object instead of crash-looping.
            telemetry.RECONCILE_ERRORS.labels(Reason.INVALID_SPEC).inc()
            post_event(service, type="Warning", reason=Reason.INVALID_SPEC, message=str(err)[:1024])
            raise kopf.PermanentError(f"invalid spec: {err}") from err
        except KubeError as err:
            if err.status == 404 and runtime.gateway.get(API_VERSION, KIND, service.name, service.namespace) is None:
                return None  # deleted while we reconciled: its children go with it, and nothing is left to report on
            telemetry.RECONCILE_ERRORS.labels(f"HTTP{err.status}").inc()
            telemetry.RECONCILE_SECONDS.labels("error").observe(time.monotonic() - started)
            post_event(service, type="Warning", reason=Reason.RECONCILE_ERROR, message=str(err)[:1024])
            raise kopf.TemporaryError(str(err), delay=RETRY_DELAY_SECONDS) from err
    telemetry.RECONCILE_SECONDS.labels("ok").observe(time.monotonic() - started)
    return decision.requeue_after


def requeue(memo: kopf.Memo, service: ServiceRef, delay: float | None) -> None:
    """Ask the work queue for another reconcile after ``delay`` (from kopf's own handlers)."""
    dirty = getattr(memo, "dirty", None)
    if delay is not None and dirty is not None:
        dirty.mark_later(service, delay)


def reconcile_owner(runtime: Runtime, service: ServiceRef) -> float | None:
    """The dirty-queue worker's job: one reconcile of a service some child event marked.

    Failures propagate: the queue retries the key with backoff (a permanent spec error is on the
    object as an Event already and is not retried).
    """
    with contextlib.suppress(kopf.PermanentError):
        return run_reconcile(runtime, service, force=False)
    return None


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def on_service_changed(body: kopf.Body, memo: kopf.Memo, reason: str, **_: Any) -> None:
    service = ServiceRef.of(body)
    # A just-created object has no status anyone could have written yet: no need to re-read it.
    requeue(memo, service, run_reconcile(memo.runtime, service, force=True, body=body if reason == "create" else None))


def _resync_enabled(**_: Any) -> bool:
    return CONFIG.resync_interval_seconds > 0


@kopf.timer(GROUP, VERSION, PLURAL, interval=CONFIG.resync_interval_seconds or 1.0,
            initial_delay=CONFIG.resync_interval_seconds, idle=None, when=_resync_enabled)
def resync(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """The level-based safety net: catches anything an event missed (e.g. during an outage)."""
    service = ServiceRef.of(body)
    requeue(memo, service, run_reconcile(memo.runtime, service, force=True))


@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_service_event(type: str, body: kopf.Body, **_: Any) -> None:
    """A deleted service's metrics go with it (a watch event: no finalizer is needed or added).

    async, like the child-event handlers: a sync handler would run on kopf's thread pool, queued
    behind the reconciles, and a burst of events would hold every body in memory until a thread is free.
    """
    if type == "DELETED":
        telemetry.forget_service(body["metadata"]["namespace"], body["metadata"]["name"])
