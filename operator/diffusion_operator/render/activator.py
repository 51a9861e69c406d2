"""The activator's children, rendered while it fronts the service (``fronted_by_activator``).

It fronts a service that may scale to zero (``minReplicas: 0``: it holds requests) and a service
whose API is on (``spec.api.enabled``: it serves the OpenAI images API and checks the keys). The
client Service (``names.service_name``, what users already call) then selects the activator's pods;
the Triton pods get a backend Service the activator forwards to. Otherwise none of this is rendered
and the client Service selects Triton again (``reconcile.children`` deletes the rest), so switching
either way is one apply plus deletes.

Why each setting (the activator is ``diffusion_operator/activator``):

- 2 replicas, spread by a *preferred* anti-affinity and a PDB of ``maxUnavailable: 1``: one node
  lost or drained keeps the endpoint answering; preferred, not required, so a one-node cluster still
  runs both.
- restricted security with a read-only root: the image writes nothing but ``/tmp`` (an emptyDir).
- its own ServiceAccount and a Role that may only ``get`` this one DiffusionService and its backend
  Service: the activator reads why pods cannot start from the status the operator writes
  (``activator/backend.py``) and forwards to the backend's ClusterIP (no cluster DNS needed).
- ``hold_deadline_seconds``: how long one request may be held.
- the API keys' Secret mounted read-only (group-readable by the activator's user only, through
  fsGroup), not read through the API: the Role stays without any right on Secrets, and the kubelet's
  updates reach the activator without a restart. ``optional: false``: a pod never runs without its
  keys, and a missing Secret shows as the pod's FailedMount event.
- ``api_args``: the caps with every unset one replaced by the service's own bound, so the activator
  never needs the spec.
"""

from __future__ import annotations

import math
from typing import Any

from diffusion_operator.api import GROUP, PLURAL
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.api.spec_api import API_MAX_STEPS, ApiSpec
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.deployment import GRPC_PORT, HTTP_PORT, METRICS_PORT
from diffusion_operator.render.names import (
    SERVICE_LABEL,
    activator_labels,
    activator_name,
    activator_selector_labels,
    backend_service_name,
    selector_labels,
    serving_labels,
)
from diffusion_operator.render.pods import restricted_container_security, restricted_pod_security
from diffusion_operator.render.service import SERVICE_MONITOR_API_VERSION

ACTIVATOR_CONTAINER = "activator"
#: The operator image's user (operator/Dockerfile).
ACTIVATOR_USER = 65532
#: The kubelet's sleep before SIGTERM: the endpoint leaves kube-proxy's rules while it still answers.
ACTIVATOR_ENDPOINT_DRAIN_SECONDS = 3
#: After SIGTERM, held requests keep waiting this long for Triton before a retryable 503.
ACTIVATOR_HOLD_DRAIN_SECONDS = 10
#: Where the API keys' Secret is mounted in the activator's pods.
API_KEYS_DIR = "/etc/diffusion/api-keys"
API_KEYS_VOLUME = "api-keys"
#: r--r-----: the activator's user reads the keys through its fsGroup; nobody else in the pod can.
API_KEYS_MODE = 0o440


def scales_to_zero(spec: DiffusionServiceSpec) -> bool:
    """Whether the service may have no Triton pod."""
    return spec.autoscaling.enabled and spec.autoscaling.min_replicas == 0


def api_enabled(spec: DiffusionServiceSpec) -> bool:
    return spec.api is not None and spec.api.enabled


def fronted_by_activator(spec: DiffusionServiceSpec) -> bool:
    """Whether the activator fronts the service: it may scale to zero, or its API is on. The one place
    this is decided; the children, the NetworkPolicy and the deletions all follow it."""
    return scales_to_zero(spec) or api_enabled(spec)


def hold_deadline_seconds(spec: DiffusionServiceSpec, settings: RenderSettings) -> int:
    """How long the activator holds one request: the startup budget plus the queue SLA.

    The SLA (``queueLatencyTarget``) is the wait a request may have once a Triton pod serves; from
    zero, a pod first has to start, and the longest it may take is the startup budget after which the
    kubelet gives up on it (the startup probe's ``failureThreshold`` x period, ``render.deployment``).
    Holding longer is pointless (the pod restarts), shorter fails requests on an ordinary cold start
    (GKE GPU nodes take 4-7 min, an SDXL engine load more). A client with a shorter patience simply
    disconnects and leaves the queue (the activator cancels the handler of a disconnected client).
    """
    return settings.startup_budget_seconds + math.ceil(spec.autoscaling.queue_latency_target_s)


def _ports() -> list[dict[str, Any]]:
    return [
        {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"},
        {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP", "appProtocol": "http"},
    ]


def build_backend_service(name: str, namespace: str) -> dict[str, Any]:
    """Triton's pods behind the activator; it carries the serving labels, so Triton's ServiceMonitor
    keeps scraping them through it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": backend_service_name(name), "namespace": namespace, "labels": serving_labels(name)},
        "spec": {"type": "ClusterIP", "selector": selector_labels(name), "ports": _ports()},
    }


def build_client_service_via_activator(name: str, namespace: str, client_service: str) -> dict[str, Any]:
    """The Service users call, selecting the activator; activator labels (not Triton's), so Triton's
    ServiceMonitor does not match it and the activator's does."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": client_service, "namespace": namespace, "labels": activator_labels(name)},
        "spec": {"type": "ClusterIP", "selector": activator_selector_labels(name), "ports": _ports()},
    }


def build_activator_service_account(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": activator_name(name), "namespace": namespace, "labels": activator_labels(name)}}


def build_activator_role(name: str, namespace: str) -> dict[str, Any]:
    """Read this one DiffusionService (its status says why pods cannot start) and the backend Service
    (its ClusterIP: no DNS needed); nothing else."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": activator_name(name), "namespace": namespace, "labels": activator_labels(name)},
        "rules": [{"apiGroups": [GROUP], "resources": [PLURAL], "resourceNames": [name], "verbs": ["get"]},
                  {"apiGroups": [""], "resources": ["services"], "resourceNames": [backend_service_name(name)],
                   "verbs": ["get"]}],
    }


def build_activator_role_binding(name: str, namespace: str) -> dict[str, Any]:
    account = activator_name(name)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": account, "namespace": namespace, "labels": activator_labels(name)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }


def activator_args(name: str, namespace: str, spec: DiffusionServiceSpec, settings: RenderSettings) -> list[str]:
    return [
        "activator",
        f"--service={name}",
        f"--namespace={namespace}",
        f"--backend={backend_service_name(name)}.{namespace}.svc",
        f"--backend-service={backend_service_name(name)}",
        f"--queue-limit={settings.activator_queue_limit}",
        f"--deadline-seconds={hold_deadline_seconds(spec, settings)}",
        f"--drain-seconds={ACTIVATOR_HOLD_DRAIN_SECONDS}",
        *(api_args(spec, spec.api) if spec.api is not None and spec.api.enabled else []),
    ]


def api_serves_edits(spec: DiffusionServiceSpec) -> bool:
    """Whether ``POST /v1/images/edits`` is served: it runs the photoshoot pipeline (``sdxl-photoshoot``),
    which the engines publish only when ``spec.pipelines`` lists it. Decided here, once: the activator
    only reads ``--api-edits`` and answers 404 without it."""
    return "photoshoot" in spec.pipelines


def api_args(spec: DiffusionServiceSpec, api: ApiSpec) -> list[str]:
    """The API's flags (``diffusion-operator activator --help``), every unset cap resolved to the
    service's bound: n to ``engine.maxBatchSize``, sizes to the range of ``engine.resolutions`` (what
    the engines' profiles accept), steps to the pipeline's 150. The default size is the largest
    resolution, which is also the pipeline's own default. Edits use the same caps (the photoshoot's
    inpainting engines are built for the same resolutions)."""
    resolutions = spec.engine.resolutions
    largest = max(resolutions, key=lambda r: r.width * r.height)  # as engine_builder's pipeline_files picks it
    args = [
        f"--api-keys-dir={API_KEYS_DIR}",
        f"--api-max-images={api.max_images_per_request or spec.engine.max_batch_size}",
        f"--api-default-size={largest.size}",
        f"--api-max-steps={api.max_steps or API_MAX_STEPS}",
    ]
    if api.sizes is not None:
        args.append("--api-sizes=" + ",".join(size.size for size in api.sizes))
    else:
        low = f"{min(r.width for r in resolutions)}x{min(r.height for r in resolutions)}"
        high = f"{max(r.width for r in resolutions)}x{max(r.height for r in resolutions)}"
        args.append(f"--api-size-range={low}-{high}")
    if api.per_key.requests_per_minute is not None:
        args.append(f"--api-requests-per-minute={api.per_key.requests_per_minute}")
    if api.per_key.max_concurrent is not None:
        args.append(f"--api-max-concurrent={api.per_key.max_concurrent}")
    if api_serves_edits(spec):
        args.append("--api-edits")
    return args


def _probe(path: str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "metrics"}, "periodSeconds": 2, "timeoutSeconds": 2,
            "failureThreshold": 3}


def build_activator_deployment(name: str, namespace: str, spec: DiffusionServiceSpec,
                               settings: RenderSettings) -> dict[str, Any]:
    labels = activator_labels(name)
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if spec.api is not None and spec.api.enabled and spec.api.auth is not None:
        mounts.append({"name": API_KEYS_VOLUME, "mountPath": API_KEYS_DIR, "readOnly": True})
        volumes.append({"name": API_KEYS_VOLUME, "secret": {
            "secretName": spec.api.auth.secret_ref.name, "defaultMode": API_KEYS_MODE, "optional": False}})
    container = {
        "name": ACTIVATOR_CONTAINER,
        "image": settings.activator_image,
        "args": activator_args(name, namespace, spec, settings),
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        # Small: it holds prompts and forwards bytes; the memory limit bounds a flood (queue limit x body).
        "resources": {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "512Mi"}},
        "readinessProbe": _probe("/readyz"),
        "livenessProbe": {**_probe("/healthz"), "periodSeconds": 10},
        "lifecycle": {"preStop": {"sleep": {"seconds": ACTIVATOR_ENDPOINT_DRAIN_SECONDS}}},
        "securityContext": {**restricted_container_security(), "readOnlyRootFilesystem": True},
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": activator_name(name),
        "enableServiceLinks": False,
        # Forwards in flight at SIGTERM may be whole SDXL requests: the same grace as Triton's pods.
        "terminationGracePeriodSeconds": settings.termination_grace_seconds,
        "securityContext": restricted_pod_security(ACTIVATOR_USER),
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {"labelSelector": {"matchLabels": activator_selector_labels(name)},
                                "topologyKey": "kubernetes.io/hostname"},
        }]}},
        "containers": [container],
        "volumes": volumes,
    }
    if settings.activator_node_selector:
        pod_spec["nodeSelector"] = dict(settings.activator_node_selector)
    if settings.activator_tolerations:
        pod_spec["tolerations"] = [dict(t) for t in settings.activator_tolerations]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": activator_name(name), "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": settings.activator_replicas,
            "selector": {"matchLabels": activator_selector_labels(name)},
            "revisionHistoryLimit": 3,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def build_activator_pod_disruption_budget(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": activator_name(name), "namespace": namespace, "labels": activator_labels(name)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": activator_selector_labels(name)},
                 "unhealthyPodEvictionPolicy": "AlwaysAllow"},
    }


def build_activator_service_monitor(name: str, namespace: str, settings: RenderSettings) -> dict[str, Any]:
    """Scrape the activator's held count through the client Service; the service label comes from
    the pods, as for Triton's series (``metrics.promql.activator_held_requests`` selects on it)."""
    return {
        "apiVersion": SERVICE_MONITOR_API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": {"name": activator_name(name), "namespace": namespace, "labels": activator_labels(name)},
        "spec": {
            "selector": {"matchLabels": activator_selector_labels(name)},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": settings.metrics_interval}],
            "podTargetLabels": [SERVICE_LABEL],
        },
    }


def activator_children(name: str, namespace: str, spec: DiffusionServiceSpec,
                       settings: RenderSettings) -> list[dict[str, Any]]:
    """Everything but the two Services, in apply order (identity before the pods that use it)."""
    return [build_activator_service_account(name, namespace), build_activator_role(name, namespace),
            build_activator_role_binding(name, namespace), build_activator_deployment(name, namespace, spec, settings),
            build_activator_pod_disruption_budget(name, namespace)]


def activator_child_refs(name: str, namespace: str) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of every activator child, to delete when the service stops scaling to zero."""
    account = activator_name(name)
    # The Deployment last: the reconcile deletes these only while it exists, so a crash midway retries.
    return [("policy/v1", "PodDisruptionBudget", account), ("networking.k8s.io/v1", "NetworkPolicy", account),
            ("monitoring.coreos.com/v1", "ServiceMonitor", account), ("v1", "Service", backend_service_name(name)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding", account), ("rbac.authorization.k8s.io/v1", "Role", account),
            ("v1", "ServiceAccount", account), ("apps/v1", "Deployment", account)]
