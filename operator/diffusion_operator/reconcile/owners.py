"""Who owns and who uses a child: owner references to services, and the users of a shared build.

Pure bookkeeping over plain API objects, so the child-event handlers only look up and mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from diffusion_operator.api.resource import GROUP, KIND, ServiceRef
from diffusion_operator.reconcile.observation import JobState
from diffusion_operator.render.names import ENGINE_KEY_LABEL

#: A shared build Job (and its plan ConfigMap) is owned by at most this many services. Every owner is
#: an ownerReference and a server-side-apply field manager on the Job: at 1,000 services on one engine
#: key its applies timed out (HTTP 504). More users *follow* the build without owning it (a Job event
#: wakes them by engine key, ``build_users``). Should every owner go while followers remain, the
#: garbage collector takes the Job and the next follower re-creates it: a cache hit exits at once.
MAX_BUILD_OWNERS = 16


def joins_build_owners(job: JobState, uid: str) -> bool:
    """Whether this service should add itself to the owners of an existing build Job."""
    return job.phase != "Missing" and uid not in job.owner_uids and len(job.owner_uids) < MAX_BUILD_OWNERS


def owners_of(child: Mapping[str, Any]) -> list[ServiceRef]:
    """The DiffusionServices that own a child (several for a shared build)."""
    namespace = child["metadata"]["namespace"]
    return [ServiceRef(namespace, ref["name"], str(ref.get("uid")))
            for ref in child["metadata"].get("ownerReferences") or []
            if ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(GROUP)]


def engine_key_index_entry(namespace: str | None, service: ServiceRef,
                           status: Mapping[str, Any]) -> dict[tuple[str, str], ServiceRef] | None:
    """A service under the engine key it last asked for (``status.engine.cacheKey``), for the index
    that finds the users of a build; None until it asked for one."""
    key = (status.get("engine") or {}).get("cacheKey")
    return {(namespace, key): service} if key and namespace else None


def build_users(job: Mapping[str, Any], index: Mapping[tuple[str, str], Iterable[ServiceRef]]) -> set[ServiceRef]:
    """A build Job's owners plus the services that follow it without owning it (``MAX_BUILD_OWNERS``)."""
    meta = job["metadata"]
    key = (meta.get("labels") or {}).get(ENGINE_KEY_LABEL)
    followers = index.get((meta["namespace"], key), ()) if key else ()
    return {*owners_of(job), *followers}
