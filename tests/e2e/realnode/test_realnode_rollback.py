"""A repository that Triton cannot load: a real crash loop on the real node, and the rollback.

The fault is a corrupt engine cache (one model's config overwritten with garbage of the same size,
as bit rot or a half-synced volume leaves it): the builder's cache check, which compares sizes,
takes it for complete, so the build "succeeds" at once and the rollout starts. Triton then refuses
the repository and exits (``--exit-on-error``), the kubelet restarts it into CrashLoopBackOff, and
the operator must keep the old pods serving and, after its grace, restore the revision that served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diffusion_operator.render.names import ENGINE_CACHE_CLAIM

from testbed.kube import KubeClient
from testbed.operator_process import OperatorProcess
from testbed.realnode.product import API, tiny_service
from tests.e2e.realnode.support import service_waiter, status_of

SERVICE = "rollback"
READY_TIMEOUT = 420


def reason_of(obj: Any, type_: str) -> str | None:
    return next((c["reason"] for c in status_of(obj).get("conditions") or [] if c["type"] == type_), None)


wait = service_waiter(SERVICE, READY_TIMEOUT)


def set_batch(kube: KubeClient, namespace: str, max_batch: int) -> None:
    kube.resource(API, "DiffusionService").patch(name=SERVICE, namespace=namespace,
                                                 content_type="application/merge-patch+json",
                                                 body={"spec": {"engine": {"maxBatchSize": max_batch}}})


def serving_key_is(key: str) -> Any:
    def serving(obj: Any) -> bool:
        return status_of(obj).get("engine", {}).get("servingCacheKey") == key and status_of(obj).get("phase") == "Ready"

    return serving


def cache_dir(kube: KubeClient, namespace: str) -> Path:
    """The engine cache claim's directory on this machine (the test bed's hostPath provisioner)."""
    claim = kube.core.read_namespaced_persistent_volume_claim(ENGINE_CACHE_CLAIM, namespace)
    return Path(kube.core.read_persistent_volume(claim.spec.volume_name).spec.host_path.path)


def corrupt(repository: Path, model: str) -> None:
    config = repository / model / "config.pbtxt"
    config.write_bytes(b"#" * config.stat().st_size)  # same size: the cache check cannot tell


def test_a_repository_triton_cannot_load_crash_loops_and_is_rolled_back(
        kube: KubeClient, restricted_namespace: str, realnode_operator: OperatorProcess):
    kube.create(tiny_service(SERVICE, restricted_namespace, replicas=1))
    try:
        check_rollback(kube, restricted_namespace)
    finally:
        kube.delete(API, "DiffusionService", SERVICE, restricted_namespace)  # its GPUs go back to the suite


def check_rollback(kube: KubeClient, restricted_namespace: str) -> None:
    good = status_of(wait(kube, restricted_namespace, lambda o: status_of(o).get("phase") == "Ready", "Ready"))
    good_key = good["engine"]["servingCacheKey"]
    # Build a second engine, serve it once, and go back: both repositories are now in the cache.
    set_batch(kube, restricted_namespace, 4)
    bad_key = status_of(wait(kube, restricted_namespace,
                             lambda o: status_of(o).get("engine", {}).get("servingCacheKey") not in (None, good_key)
                             and status_of(o).get("phase") == "Ready", "second engine serving"))["engine"]["cacheKey"]
    set_batch(kube, restricted_namespace, 2)
    wait(kube, restricted_namespace, serving_key_is(good_key), "back on the first engine")

    corrupt(cache_dir(kube, restricted_namespace) / bad_key / "model_repository", "unetxl")
    set_batch(kube, restricted_namespace, 4)
    rolled = wait(kube, restricted_namespace, lambda o: reason_of(o, "Degraded") == "RolledBack",
                  "RolledBack", timeout=300)

    status = status_of(rolled)
    assert status["rollback"]["cacheKey"] == good_key  # the revision that still served
    assert "CrashLoopBackOff" in status["rollback"]["message"], status["rollback"]
    deployment = kube.get("apps/v1", "Deployment", SERVICE, restricted_namespace)
    assert deployment.spec.template.metadata.annotations["diffusion.dev/engine-key"] == good_key
    kube.wait_for_event(restricted_namespace, SERVICE, lambda e: e.startswith("Warning RolledBack"),
                        what="Warning RolledBack", timeout=30)
