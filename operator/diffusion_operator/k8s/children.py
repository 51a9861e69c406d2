"""Apply what ``reconcile.children.desired_children`` decided: a failed build to retire, the shared
build, the serving children.

The protocols that need a conversation with the API server live here, as manifests rendered
in ``render/`` and applied under the field managers named in ``render.replicas``:

- joining a shared build's owners: a conditional, metadata-only apply that re-reads and asks again
  when another service changed the Job under us (``join_build``);
- deleting a failed build for a rebuild, conditional on the uid that was seen, so a newer Job of the
  same name is never taken for it (``retire_build``);
- handing ``spec.replicas`` of a Deployment over to the autoscaler's field manager before the
  operator's apply leaves it out (``hand_replicas_to_autoscaler``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from diffusion_operator.k8s.gateway import KubeError, KubeGateway
from diffusion_operator.reconcile.children import ChildRef, DesiredChildren, EngineBuild, ServingChildren
from diffusion_operator.reconcile.observation import JobState, job_state
from diffusion_operator.reconcile.owners import joins_build_owners
from diffusion_operator.render import names
from diffusion_operator.render.engine_job import build_job_owner_join, build_plan_owner_join
from diffusion_operator.render.replicas import (
    AUTOSCALER_FIELD_MANAGER,
    OPERATOR_FIELD_MANAGER,
    build_replicas_only,
    with_replicas,
)

#: Tries to join a build's owners while other services change the Job under us (HTTP 409 each time).
JOIN_ATTEMPTS = 5


class ChildError(KubeError):
    """Applying or deleting one child failed; ``child`` is its ``Kind/name``, first in the message, so the
    reconcile's Warning Event and kopf's retry say which child (as NIM's operator does), not just 'HTTP 403'."""

    def __init__(self, child: str, error: KubeError) -> None:
        super().__init__(f"{child}: {error}", error.status, error.reason)
        self.child = child


@contextmanager
def naming(kind: str, name: str) -> Iterator[None]:
    """Any API error inside names the child ``kind/name``."""
    try:
        yield
    except ChildError:
        raise
    except KubeError as error:
        raise ChildError(f"{kind}/{name}", error) from error


def _apply(gateway: KubeGateway, manifest: dict[str, Any], field_manager: str) -> dict[str, Any]:
    with naming(manifest["kind"], manifest["metadata"]["name"]):
        return gateway.apply(manifest, field_manager=field_manager)


def apply_build(gateway: KubeGateway, build: EngineBuild) -> None:
    """Create (or re-apply) the shared build: the namespace's objects, then the plan and the Job."""
    for manifest in build.namespace_objects:
        _apply(gateway, manifest, OPERATOR_FIELD_MANAGER)
    for manifest in build.owned:
        _apply(gateway, manifest, build.field_manager)


def join_build(gateway: KubeGateway, build: EngineBuild, job: JobState) -> bool:
    """Join the owners of a build another service started (metadata-only apply, own field manager).

    The apply carries the observed resourceVersion, so two services cannot both take the last owner
    slot (``MAX_BUILD_OWNERS``): the loser re-reads the Job and asks ``joins_build_owners`` again, and
    follows the build without owning it if the slots are gone. False when the build vanished since it
    was observed (its last owner was deleted and the garbage collector took it): a metadata-only apply
    would then try to create an empty object (HTTP 422).
    """
    for _ in range(JOIN_ATTEMPTS):
        if not joins_build_owners(job, build.uid):
            return True
        try:
            gateway.apply(build_job_owner_join(build.namespace, job.name, build.owner, job.resource_version),
                          field_manager=build.field_manager)
        except KubeError as err:
            if err.status not in (404, 409, 422):
                raise ChildError(f"Job/{job.name}", err) from err
            fresh = gateway.get("batch/v1", "Job", job.name, build.namespace)
            if fresh is None:
                return False
            job = job_state(job.name, fresh, [])
            continue
        try:
            gateway.apply(build_plan_owner_join(build.namespace, build.cache_key, build.owner),
                          field_manager=build.field_manager)
        except KubeError as err:
            plan_map = names.engine_plan_config_map_name(build.cache_key)
            if err.status == 422 and gateway.get("v1", "ConfigMap", plan_map, build.namespace) is None:
                return False
            raise ChildError(f"ConfigMap/{plan_map}", err) from err
        return True
    return True  # still contended after every attempt: follow for now, the next reconcile tries again


def hand_replicas_to_autoscaler(gateway: KubeGateway, deployment: dict[str, Any], initial: int) -> None:
    """Make the autoscaler's field manager the owner of ``spec.replicas`` before the operator's apply
    leaves the field out; otherwise server-side apply would drop it and the count fall back to 1."""
    meta = deployment["metadata"]
    with naming("Deployment", meta["name"]):
        existing = gateway.get("apps/v1", "Deployment", meta["name"], meta["namespace"])
        if existing is None:
            existing = gateway.apply(with_replicas(deployment, initial), field_manager=OPERATOR_FIELD_MANAGER)
        if not gateway.owns_field(existing, AUTOSCALER_FIELD_MANAGER, ("spec", "replicas")):
            keep = int((existing.get("spec") or {}).get("replicas") or initial)
            gateway.apply(build_replicas_only(meta["name"], meta["namespace"], keep),
                          field_manager=AUTOSCALER_FIELD_MANAGER)


def apply_serving(gateway: KubeGateway, serving: ServingChildren) -> None:
    """Hand the count over if the autoscaler owns it, apply the serving children, delete the unwanted."""
    if serving.hand_over_replicas is not None:
        hand_replicas_to_autoscaler(gateway, serving.deployment, serving.hand_over_replicas)
    for manifest in serving.apply:
        _apply(gateway, manifest, OPERATOR_FIELD_MANAGER)
    for child in serving.delete:
        with naming(child.kind, child.name):
            gateway.delete(child.api_version, child.kind, child.name, child.namespace)


def retire_build(gateway: KubeGateway, job: ChildRef) -> None:
    """Delete a failed build Job so the next reconcile (its deletion event wakes every user of the build)
    creates it anew; its pods go with it in the background.

    Conditional on the uid that was observed. HTTP 409 (a newer Job of that name stands: another user of
    the shared build rebuilt it first) and 404 (gone already) both mean the rebuild is under way.
    """
    try:
        gateway.delete(job.api_version, job.kind, job.name, job.namespace, uid=job.uid)
    except KubeError as err:
        if err.status != 409:
            raise ChildError(f"{job.kind}/{job.name}", err) from err


def apply_desired(gateway: KubeGateway, desired: DesiredChildren, observed_job: JobState) -> None:
    """A failed build to retire first, the build (a vanished shared build is started anew), then the
    serving children."""
    if desired.retired_build is not None:
        retire_build(gateway, desired.retired_build)
    build = desired.build
    if build is not None and (build.start or not join_build(gateway, build, observed_job)):
        apply_build(gateway, build)
    if desired.serving is not None:
        apply_serving(gateway, desired.serving)
