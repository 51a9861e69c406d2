"""The engine build: a ConfigMap holding the plan and a Job that runs ``engine-builder build`` on it.

Both are named after the cache key, not the service: every service with the same key (and an
operator restarted mid-build) finds the same Job, so a key is built at most once per namespace. The
first service to ask decides the builder image, timeout and credentials of that build.
"""

from __future__ import annotations

import json
import math
from typing import Any

from diffusion_operator.api.durations import parse_duration
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.api.spec_serving import ResourceRequirements
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.names import (
    engine_job_name,
    engine_labels,
    engine_plan_config_map_name,
)
from diffusion_operator.render.pods import (
    container_resources,
    gpu_scheduling,
    restricted_container_security,
    restricted_pod_security,
    shared_memory_volume,
)
from diffusion_operator.render.storage import BUILDER_CACHE_PATH, cache_volume
from engine_builder.layout import PLAN_FILE
from engine_builder.plan import BuildPlan

PLAN_MOUNT = "/plan"
BUILDER_CONTAINER = "builder"
#: ``engine_builder.errors.PlanError.exit_code``: the plan itself is invalid, retrying cannot help.
BUILDER_EXIT_INVALID_PLAN = 2
#: ``engine_builder.errors.QualityGateFailedError.exit_code``: the gate scored the build and refused it.
BUILDER_EXIT_GATE_FAILED = 6
#: 128 + SIGKILL: how the builder ends when the kernel kills it for memory (see ``build_failure_policy``).
BUILDER_EXIT_KILLED = 137
#: ``pvc://<claim>/<path>`` sources are mounted read-only at ``<SOURCES_ROOT>/<claim>`` (the builder's PVC_ROOT).
SOURCES_ROOT = "/sources"


def source_claim(source: str) -> str | None:
    """The claim of a ``pvc://<claim>/<path>`` source, else None."""
    if not source.startswith("pvc://"):
        return None
    return source.removeprefix("pvc://").split("/", 1)[0]


def source_claims(plan: BuildPlan) -> list[str]:
    """Every claim the build reads from: the model's, the photoshoot's sources', the quality gate's CLIP weights'."""
    sources = (plan.source, plan.inpaint_source, plan.segmentation_source, plan.quality_gate.clip_source)
    claims = (source_claim(source) for source in sources if source is not None)
    return list(dict.fromkeys(claim for claim in claims if claim is not None))


def plan_json(plan: BuildPlan) -> str:
    """The plan file's exact text (sorted keys: the same plan is byte-for-byte the same ConfigMap)."""
    return json.dumps(plan.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"


def build_plan_config_map(namespace: str, plan: BuildPlan) -> dict[str, Any]:
    key = plan.cache_key()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": engine_plan_config_map_name(key), "namespace": namespace, "labels": engine_labels(key)},
        "data": {PLAN_FILE: plan_json(plan)},
        "immutable": True,
    }


def build_scheduling(plan: BuildPlan, settings: RenderSettings) -> dict[str, Any]:
    """The build pod's ``nodeSelector`` and ``tolerations``: the serving GPU type's pool."""
    return gpu_scheduling(plan.gpu_type, node_labels=settings.gpu_node_labels, gpu_tolerations=settings.gpu_tolerations)


def build_node_selector(plan: BuildPlan, settings: RenderSettings) -> dict[str, str]:
    """The nodes a build may run on: what the operator reads to check that one can hold it."""
    selector: dict[str, str] = build_scheduling(plan, settings)["nodeSelector"]
    return selector


def _fail_job_on_exit(code: int) -> dict[str, Any]:
    return {"action": "FailJob",
            "onExitCodes": {"containerName": BUILDER_CONTAINER, "operator": "In", "values": [code]}}


def build_failure_policy() -> dict[str, Any]:
    """Which failed build pods the Job retries (``backoffLimit``) and which end the build at once.

    The rules apply in order and the first that matches wins:

    1. ``DisruptionTarget`` -> Ignore: a node drained, a preemption, an eviction (the kubelet's under
       node pressure too) is not the build's fault and does not count as a try.
    2. Exit 2 -> FailJob: the plan is invalid; the same plan fails the same way.
    3. Exit 6 -> FailJob: the quality gate refused the build. The gate already calibrates up to
       ``calibrationAttempts`` times inside one pod and keeps the best; another pod would export,
       calibrate and score again for the same verdict (three times the minutes, and until the last
       try the operator cannot say ``QualityGateFailed``). A gate that could not run (exit 7,
       ``QualityGateUnavailable``) is retried: a CLIP source can be back on the next try.
    4. Exit 137 -> FailJob: the builder was OOMKilled. A retry runs with the same memory limit (the pod
       template is fixed) and dies the same way, after up to an hour of GPU time each. The operator
       reports it (``BuildOOMKilled``) and builds again once the spec allows more memory
       (``reconcile.oom_retry``).

    A pod failure policy cannot match the kubelet's ``OOMKilled`` reason, only exit codes and pod
    conditions; 137 (128 + SIGKILL) is the closest it can see, and rule 1 comes first so the SIGKILLs of
    a disruption still do not count. The builder never ends with 137 itself: it exits 0..8
    (``engine_builder.errors``), runs no child process whose status it could pass on, and is the
    container's command (no shell that would turn a child's SIGKILL into 137). What else ends in 137
    without a ``DisruptionTarget``: a pod deleted by hand (the builder is PID 1 with no SIGTERM handler,
    so it ignores SIGTERM and is SIGKILLed after its grace period), which now fails the build instead
    of starting another try (a person stopping a build rarely wants it started again; deleting the Job
    builds again); and a node-wide OOM kill below the limit, which is an OOM too. The deadline's kill
    (``activeDeadlineSeconds``) comes after the Job has already failed (``DeadlineExceeded``).
    """
    return {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        _fail_job_on_exit(BUILDER_EXIT_INVALID_PLAN),
        _fail_job_on_exit(BUILDER_EXIT_GATE_FAILED),
        _fail_job_on_exit(BUILDER_EXIT_KILLED),
    ]}


def build_engine_job(
    namespace: str, spec: DiffusionServiceSpec, plan: BuildPlan, settings: RenderSettings,
    resources: ResourceRequirements,
) -> dict[str, Any]:
    """The build Job for ``plan`` (made with ``engines.plan.plan_for(spec, ...)``).

    ``resources`` are the container's requests and limits besides its one GPU
    (``engines.build_resources``: the spec's ``engine.buildResources``, else the measured figures).
    The builder's one-line JSON summary comes back as the pod's termination message;
    ``FallbackToLogsOnError`` puts the log tail there when it crashes before writing one.
    """
    key = plan.cache_key()
    labels = engine_labels(key)
    env: list[dict[str, Any]] = [
        {"name": "HF_HOME", "value": "/scratch/huggingface"},
        {"name": "TMPDIR", "value": "/scratch"},
    ]
    secret_ref = spec.model.credentials_secret_ref
    if secret_ref is not None and plan.credentials is not None:
        # Only the reference travels: the kubelet reads the value; the operator never sees it.
        env.append(
            {
                "name": plan.credentials.env,
                "valueFrom": {"secretKeyRef": {"name": secret_ref.name, "key": secret_ref.key}},
            }
        )
    mounts: list[dict[str, Any]] = [
        {"name": "plan", "mountPath": PLAN_MOUNT, "readOnly": True},
        {"name": "engine-cache", "mountPath": BUILDER_CACHE_PATH},
        {"name": "scratch", "mountPath": "/scratch"},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "plan", "configMap": {"name": engine_plan_config_map_name(key)}},
        cache_volume(),
        {"name": "scratch", "emptyDir": {}},
        shared_memory_volume(settings.shm_size),
    ]
    for index, claim in enumerate(source_claims(plan)):
        if index == 0:
            env.append({"name": "PVC_ROOT", "value": SOURCES_ROOT})
        volume = "model-source" if index == 0 else f"model-source-{index}"
        mounts.append({"name": volume, "mountPath": f"{SOURCES_ROOT}/{claim}", "readOnly": True})
        volumes.append({"name": volume, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}})
    container = {
        "name": BUILDER_CONTAINER,
        "image": spec.engine.builder_image or settings.builder_image,
        "command": ["engine-builder", "build", "--plan", f"{PLAN_MOUNT}/{PLAN_FILE}", "--out", BUILDER_CACHE_PATH],
        "env": env,
        "resources": container_resources(1, resources),
        "volumeMounts": mounts,
        "securityContext": restricted_container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec = {
        "restartPolicy": "Never",
        "serviceAccountName": settings.builder_service_account,
        "automountServiceAccountToken": False,  # the builder never talks to the API server
        "securityContext": restricted_pod_security(settings.run_as_user),
        **build_scheduling(plan, settings),
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": engine_job_name(key), "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": settings.build_backoff_limit,
            "activeDeadlineSeconds": max(1, math.ceil(parse_duration(spec.engine.build_timeout).total_seconds())),
            "podFailurePolicy": build_failure_policy(),
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def build_job_owner_join(namespace: str, job_name: str, owner: dict[str, Any],
                         resource_version: str | None) -> dict[str, Any]:
    """A metadata-only apply that adds ``owner`` to a build Job's owners (under the owner's own field
    manager). With the observed ``resource_version`` it is conditional: two services cannot both take
    the last owner slot."""
    precondition = {"resourceVersion": resource_version} if resource_version else {}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name, "namespace": namespace, "ownerReferences": [owner], **precondition}}


def build_plan_owner_join(namespace: str, cache_key: str, owner: dict[str, Any]) -> dict[str, Any]:
    """A metadata-only apply that adds ``owner`` to the owners of a build's plan ConfigMap."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": engine_plan_config_map_name(cache_key), "namespace": namespace,
                         "ownerReferences": [owner]}}
