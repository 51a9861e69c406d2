"""The one module that names children and labels them; nothing else builds a child name or label.

A DiffusionService name may be a 253-character DNS subdomain, but Service names must be 63-character
DNS labels starting with a letter, and label values are capped at 63 too. ``fit`` keeps short names
as they are (so ``kubectl get deploy sdxl`` just works) and shortens long or odd ones with a stable
hash suffix, so two long names never collide and a name never changes between reconciles.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63
_HASH_LENGTH = 8

# -- label keys ------------------------------------------------------------------------------------
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
SERVICE_LABEL = "diffusion.dev/service"
ENGINE_KEY_LABEL = "diffusion.dev/engine-key"
#: On the pod template: a different engine key is a different template, so a key switch rolls out.
ENGINE_KEY_ANNOTATION = "diffusion.dev/engine-key"
#: On serving children: a hash of what the operator last applied, so unchanged children are not re-sent.
APPLIED_HASH_ANNOTATION = "diffusion.dev/applied-hash"

MANAGED_BY = "diffusion-operator"
TRITON = "triton"
ACTIVATOR = "activator"
ENGINE_BUILDER = "engine-builder"

# -- metric labels (what Prometheus makes of the pod labels) ----------------------------------------
def prometheus_label(pod_label: str) -> str:
    """The label name Prometheus gives a pod label it copies onto the samples (``podTargetLabels``):
    every character a label name cannot hold becomes ``_`` (``diffusion.dev/service`` ->
    ``diffusion_dev_service``)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", pod_label)


#: The service of a Triton series: what the autoscaler's, the alerts' and the dashboards' queries select on.
SERVICE_METRIC_LABEL = prometheus_label(SERVICE_LABEL)
#: The engine key of a Triton series.
ENGINE_KEY_METRIC_LABEL = prometheus_label(ENGINE_KEY_LABEL)
#: The gauge each activator replica exports (activator/metrics.py) and the autoscaler wakes on.
ACTIVATOR_HELD_METRIC = "diffusion_activator_held_requests"

# -- fixed names -----------------------------------------------------------------------------------
#: One shared engine cache per namespace (see render/storage.py for why).
ENGINE_CACHE_CLAIM = "diffusion-engine-cache"
#: The builder's ServiceAccount, created by the operator in every namespace it builds in (render/accounts.py).
ENGINE_BUILDER_SERVICE_ACCOUNT = "diffusion-engine-builder"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def fit(name: str, limit: int = MAX_NAME) -> str:
    """A DNS-1035 label (lowercase, starts with a letter, <= ``limit``) derived from ``name``, stably."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if cleaned and not cleaned[0].isalpha():
        cleaned = f"x-{cleaned}"
    if cleaned == name and len(name) <= limit:
        return name
    head = cleaned[: limit - _HASH_LENGTH - 1].rstrip("-") or "x"
    return f"{head}-{_digest(name)}"


def label_value(value: str) -> str:
    """A label value (<= 63 characters) for ``value``; long values keep a readable head and a hash."""
    if len(value) <= MAX_NAME:
        return value
    return f"{value[: MAX_NAME - _HASH_LENGTH - 1].rstrip('-._')}-{_digest(value)}"


# -- serving children (one set per DiffusionService) -----------------------------------------------
def deployment_name(service: str) -> str:
    return fit(service)


def service_name(service: str) -> str:
    """Also the DNS name clients use: ``<service>.<namespace>.svc``."""
    return fit(service)


def service_monitor_name(service: str) -> str:
    return fit(service)


def pod_disruption_budget_name(service: str) -> str:
    return fit(service)


def network_policy_name(service: str) -> str:
    return fit(service)


def selector_labels(service: str) -> dict[str, str]:
    """The Deployment/Service/PDB selector; never includes the engine key, so it stays immutable."""
    return {NAME_LABEL: TRITON, INSTANCE_LABEL: label_value(service)}


def serving_labels(service: str) -> dict[str, str]:
    """Labels on every serving child and pod."""
    return {
        **selector_labels(service),
        COMPONENT_LABEL: "server",
        MANAGED_BY_LABEL: MANAGED_BY,
        SERVICE_LABEL: label_value(service),
    }


def serving_pod_labels(service: str, cache_key: str) -> dict[str, str]:
    """Pod labels: the serving labels plus the engine key (Prometheus copies both into metrics)."""
    return {**serving_labels(service), ENGINE_KEY_LABEL: cache_key}


def selector_string(service: str) -> str:
    """``status.selector`` for the /scale subresource (sorted, comma-separated)."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector_labels(service).items()))


# -- the activator (only while a service may scale to zero: render/activator.py) -------------------
def activator_name(service: str) -> str:
    """The activator's Deployment, ServiceAccount, Role, RoleBinding, PDB and NetworkPolicy."""
    return fit(f"{service}-activator")


def backend_service_name(service: str) -> str:
    """The Service that selects the Triton pods while the client Service selects the activator."""
    return fit(f"{service}-backend")


def activator_selector_labels(service: str) -> dict[str, str]:
    return {NAME_LABEL: ACTIVATOR, INSTANCE_LABEL: label_value(service)}


def activator_labels(service: str) -> dict[str, str]:
    """On the activator's children and pods; the service label becomes the held-count metric's label."""
    return {
        **activator_selector_labels(service),
        COMPONENT_LABEL: ACTIVATOR,
        MANAGED_BY_LABEL: MANAGED_BY,
        SERVICE_LABEL: label_value(service),
    }


# -- engine children (one set per namespace and cache key, shared by services) --------------------
def engine_job_name(cache_key: str) -> str:
    """Named after the key, so a second service (or a restarted operator) finds the same Job."""
    return fit(f"engine-{cache_key}")


def engine_plan_config_map_name(cache_key: str) -> str:
    return fit(f"engine-{cache_key}-plan")


def engine_labels(cache_key: str) -> dict[str, str]:
    """Labels on the build Job, its pods and its plan ConfigMap; no service label: builds are shared."""
    return {
        NAME_LABEL: ENGINE_BUILDER,
        COMPONENT_LABEL: "engine-build",
        MANAGED_BY_LABEL: MANAGED_BY,
        ENGINE_KEY_LABEL: cache_key,
    }
