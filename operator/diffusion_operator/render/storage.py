"""The engine cache: one PersistentVolumeClaim per namespace, one directory per cache key.

Why per namespace and not per key: a key directory is written once (the builder publishes
atomically by renaming a temp dir to ``/cache/<key>``) and then only read, so a single ReadWriteMany
volume gives dedup for free: every service in the namespace with the same key mounts the same
directory, and a new key is a new directory next to the old one, which keeps serving until the
switch. A claim per key would need a provisioning round-trip (minutes on cloud disks) per build and
a ReadWriteOnce -> ReadOnlyMany hand-over. Not cluster-wide: a namespace is the tenancy boundary,
and model weights fetched with one tenant's credentials must not be readable from another's.
"""

from __future__ import annotations

from typing import Any

from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.names import ENGINE_CACHE_CLAIM, MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL
from engine_builder.layout import MODEL_REPOSITORY_DIR

#: Where the builder sees the whole cache volume (``engine-builder build --out /cache``).
BUILDER_CACHE_PATH = "/cache"
#: Where Triton sees one key's model repository (read-only).
TRITON_MODEL_REPOSITORY = "/models"


def repository_subpath(cache_key: str) -> str:
    """The published Triton model repository of ``cache_key`` inside the cache volume (the builder
    publishes ``<out>/<key>/`` holding its manifest and this repository, ``engine_builder.layout``)."""
    return f"{cache_key}/{MODEL_REPOSITORY_DIR}"


def build_engine_cache_claim(namespace: str, settings: RenderSettings) -> dict[str, Any]:
    """The namespace's shared cache claim. It carries no single owner: see ``pods.owner_reference``."""
    spec: dict[str, Any] = {
        "accessModes": list(settings.cache_access_modes),
        "resources": {"requests": {"storage": settings.cache_size}},
    }
    if settings.cache_storage_class is not None:
        spec["storageClassName"] = settings.cache_storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": ENGINE_CACHE_CLAIM,
            "namespace": namespace,
            "labels": {NAME_LABEL: "engine-cache", MANAGED_BY_LABEL: MANAGED_BY},
        },
        "spec": spec,
    }


def cache_volume() -> dict[str, Any]:
    return {"name": "engine-cache", "persistentVolumeClaim": {"claimName": ENGINE_CACHE_CLAIM}}
