"""Child events: a Job or Deployment changed, so mark the services that use it dirty and return.

Bursts coalesce into one reconcile per service (handlers/workqueue.py). Who uses a child is
reconcile/owners.py's business: owners by ownerReference, and the followers of a shared build by
the engine key in this index.
"""

from __future__ import annotations

from typing import Any

import kopf

from diffusion_operator.api import GROUP, PLURAL, VERSION
from diffusion_operator.api.resource import ServiceRef
from diffusion_operator.reconcile.owners import build_users, engine_key_index_entry, owners_of
from diffusion_operator.render import names

_MANAGED = {names.MANAGED_BY_LABEL: names.MANAGED_BY}


@kopf.index(GROUP, VERSION, PLURAL)
async def services_by_engine_key(namespace: str | None, name: str, uid: str, status: kopf.Status,
                                 **_: Any) -> dict[tuple[str, str], ServiceRef] | None:
    """Services by the engine key they last asked for: the users of a build, owners or followers.

    async: a sync handler would run on kopf's thread pool, queued behind the reconciles.
    """
    return engine_key_index_entry(namespace, ServiceRef(namespace or "", name, uid), status)


@kopf.on.event("batch", "v1", "jobs", labels=_MANAGED)
async def on_job_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Build progress and deletions (a vanished build is re-created): every user of it."""
    for service in build_users(body, kwargs["services_by_engine_key"]):
        memo.dirty.mark(service)


@kopf.on.event("apps", "v1", "deployments", labels=_MANAGED)
async def on_child_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Deployment rollouts and deletions (a deleted child is re-created) alike: its owner."""
    for service in owners_of(body):
        memo.dirty.mark(service)
