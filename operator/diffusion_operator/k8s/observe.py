"""Read a DiffusionService's children from the API server into a pure ``Observation``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from diffusion_operator.k8s.gateway import KubeError, KubeGateway
from diffusion_operator.reconcile.build_fit import BuildNodes, node_memory
from diffusion_operator.reconcile.observation import (
    JobState,
    Observation,
    RolloutState,
    deployment_state,
    job_state,
    rollout_state,
)
from diffusion_operator.render import names

SERVICE_MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")


def _pods_matter(deployment: dict[str, Any] | None) -> bool:
    """Pods are read only to explain unready replicas; a fully ready Deployment needs no pod list."""
    if deployment is None:
        return False
    want = (deployment.get("spec") or {}).get("replicas")
    status = deployment.get("status") or {}
    return not (want is not None and status.get("readyReplicas", 0) == want == status.get("replicas", 0))


def observe_job(gateway: KubeGateway, namespace: str, cache_key: str, *,
                summary_known: bool = False) -> tuple[JobState, list[dict[str, Any]]]:
    """The build Job and, when they can tell something new, its pods (termination message, stuck pods).

    A finished build whose summary is already in the status needs no pod list: at a thousand services
    every saved call is API-server time.
    """
    name = names.engine_job_name(cache_key)
    job = gateway.get("batch/v1", "Job", name, namespace)
    finished = any(c.get("type") == "Complete" and c.get("status") == "True"
                   for c in ((job or {}).get("status") or {}).get("conditions") or [])
    need_pods = job is not None and not (finished and summary_known)
    pods = gateway.pods_of(namespace, f"batch.kubernetes.io/job-name={name}") if need_pods else []
    return job_state(name, job, pods), pods


def secret_problem(job: JobState, pods: list[dict[str, Any]]) -> str | None:
    """A build pod stuck because the referenced Secret (or key) is missing.

    The operator never reads Secrets (least privilege): the kubelet's CreateContainerConfigError on
    the build pod is the evidence, and its message names the Secret.
    """
    if job.phase not in ("Pending", "Running"):
        return None
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") == "CreateContainerConfigError" and "secret" in (waiting.get("message") or ""):
                return str(waiting["message"])
    return None


def observe_build_nodes(gateway: KubeGateway, selector: Mapping[str, str]) -> BuildNodes | None:
    """The allocatable memory of the nodes the build Job would select, or None where nodes may not be
    listed (a namespaced install's Roles cannot grant it: the build is then created unchecked)."""
    label_selector = ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
    try:
        nodes = gateway.list_objects("v1", "Node", None, label_selector or None)
    except KubeError as err:
        if err.status == 403:
            return None
        raise
    return BuildNodes(selector=dict(selector), nodes=node_memory(nodes))


def observe(gateway: KubeGateway, namespace: str, service: str, cache_key: str, *,
            summary_known: bool = False, build_node_selector: Mapping[str, str] | None = None) -> Observation:
    """Everything ``decide`` reads. Nodes are listed only while the build Job is still to be created
    (``build_node_selector`` given): that is the one moment their memory can change what happens."""
    desired, build_pods = observe_job(gateway, namespace, cache_key, summary_known=summary_known)
    build_nodes = None
    if desired.phase == "Missing" and build_node_selector is not None:
        build_nodes = observe_build_nodes(gateway, build_node_selector)
    name = names.deployment_name(service)
    deployment = gateway.get("apps/v1", "Deployment", name, namespace)
    pods = gateway.pods_of(namespace, names.selector_string(service)) if _pods_matter(deployment) else []
    state = deployment_state(name, deployment, pods, names.ENGINE_KEY_ANNOTATION, names.APPLIED_HASH_ANNOTATION)
    rollout: RolloutState | None = None
    if deployment is not None and state.pod_problem and not state.rollout_complete:
        # Only a stuck rollout needs its ReplicaSets: the failing revision and the one to fall back to.
        replica_sets = gateway.list_objects("apps/v1", "ReplicaSet", namespace, names.selector_string(service))
        rollout = rollout_state(deployment, replica_sets, pods, names.ENGINE_KEY_ANNOTATION)
    serving_job = None
    if state.serving_key and state.serving_key != cache_key:
        serving_job, _ = observe_job(gateway, namespace, state.serving_key, summary_known=True)
    return Observation(
        desired_job=desired,
        serving_job=serving_job,
        deployment=state,
        secret_missing=secret_problem(desired, build_pods),
        service_monitor_supported=gateway.serves(*SERVICE_MONITOR),
        now=datetime.now(UTC),
        rollout=rollout,
        activator_exists=gateway.get("apps/v1", "Deployment", names.activator_name(service), namespace) is not None,
        build_nodes=build_nodes,
    )
