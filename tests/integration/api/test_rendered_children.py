"""The rendered children are objects the real API server accepts, and their pods pass restricted PSA.

Server-side dry runs with strict field validation: a misspelt field, a wrong type or a pod that the
``restricted`` Pod Security Standard would refuse fails here, long before a GPU cluster sees it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from diffusion_operator.api.resource import parse_spec
from diffusion_operator.engines.plan import plan_for
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.deployment import build_deployment
from diffusion_operator.render.engine_job import build_engine_job, build_plan_config_map
from diffusion_operator.render.network_policy import build_network_policy
from diffusion_operator.render.service import build_pod_disruption_budget, build_service
from diffusion_operator.render.storage import build_engine_cache_claim
from kubernetes.dynamic.exceptions import ForbiddenError

from testbed.kube import KubeClient
from tests.unit.api.spec_cases import VALID_SPECS
from tests.unit.reconcile.builds import build_for

SETTINGS = RenderSettings()


@pytest.fixture(scope="module")
def restricted_namespace(kube: KubeClient) -> Iterator[str]:
    name = f"restricted-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }}})
    yield name
    kube.core.delete_namespace(name)


def dry_run(kube: KubeClient, manifest: dict[str, Any]) -> Any:
    """POST with dryRun=All and fieldValidation=Strict; raises on any rejection."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    resource = kube.resource(api_version, kind)
    return resource.create(body=manifest, namespace=manifest["metadata"]["namespace"],
                           query_params=[("dryRun", "All"), ("fieldValidation", "Strict")])


def dry_run_pod(kube: KubeClient, pod: dict[str, Any]) -> Any:
    """Pods need the namespace's "default" ServiceAccount, which the controller-manager adds and the
    admission plugin's cache sees a moment after the namespace exists: retry only that refusal."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return dry_run(kube, pod)
        except ForbiddenError as err:
            if "error looking up service account" not in str(err.body) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def pod_from_template(template: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A bare Pod from a workload's template: Pod Security *enforces* on Pods only.

    The ServiceAccount is left out: the chart creates it, and Pod Security does not look at it.
    """
    spec = {key: value for key, value in template["spec"].items() if key != "serviceAccountName"}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"psa-{uuid.uuid4().hex[:6]}", "namespace": namespace, **template["metadata"]},
            "spec": spec}


@pytest.mark.parametrize("name", ["minimal", "full-serving", "s3-with-secret", "pvc-source", "autoscaled",
                                  "network-policy", "tolerate-everything-and-requests-within-limits"])
def test_rendered_children_are_accepted(kube: KubeClient, restricted_namespace: str, name: str) -> None:
    spec = parse_spec(VALID_SPECS[name])
    plan = plan_for(spec, "10.13.3")
    job = build_engine_job(restricted_namespace, spec, plan, SETTINGS, build_for(spec).requirements)
    deployment = build_deployment("sdxl", restricted_namespace, spec, cache_key=plan.cache_key(), replicas=2,
                                  settings=SETTINGS)
    children = [
        build_engine_cache_claim(restricted_namespace, SETTINGS),
        build_plan_config_map(restricted_namespace, plan),
        job,
        deployment,
        build_service("sdxl", restricted_namespace),
        build_pod_disruption_budget("sdxl", restricted_namespace, 2),
    ]
    if spec.serving.network_policy.enabled:
        children.append(build_network_policy("sdxl", restricted_namespace, spec.serving.network_policy, SETTINGS))
    for child in children:
        assert child is not None
        dry_run(kube, child)
    for template in (job["spec"]["template"], deployment["spec"]["template"]):
        dry_run_pod(kube, pod_from_template(template, restricted_namespace))


def test_the_namespace_really_enforces_restricted(kube: KubeClient, restricted_namespace: str) -> None:
    """Guards the test above: a root pod must be refused here, or the PSA check proves nothing."""
    root_pod = {"metadata": {"labels": {}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    with pytest.raises(ForbiddenError, match="violates PodSecurity"):
        dry_run_pod(kube, pod_from_template(root_pod, restricted_namespace))
