"""The generated CRD on a real kube-apiserver: valid specs are accepted and defaulted, bad ones refused.

Every request is a server-side dry run with ``fieldValidation=Strict``, so admission (OpenAPI schema,
CEL rules, unknown-field checks) runs in full and nothing is stored; /scale and the printer columns
need real objects and create them.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from diffusion_operator.api.crd import CRD_NAME, custom_resource_definition
from diffusion_operator.api.resource import API_VERSION, GROUP, KIND, PLURAL, VERSION, parse_spec
from diffusion_operator.autoscaling import History
from diffusion_operator.autoscaling.cold_start import ColdStart, PodStart
from diffusion_operator.autoscaling.forecast import BUCKETS, ForecastState
from kubernetes import client
from kubernetes.client.rest import ApiException

from testbed.kube import KubeClient
from tests.unit.api.spec_cases import INVALID_SPECS, MINIMAL, VALID_SPECS, Invalid

FIELD_MANAGER = "admission-test"


@pytest.fixture(scope="module")
def crd_installed(kube: KubeClient) -> None:
    """Apply the generated CRD and wait until the API server serves it."""
    kube.apply(custom_resource_definition(), field_manager=FIELD_MANAGER)
    kube.wait_for(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        CRD_NAME,
        None,
        lambda crd: any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (crd.to_dict().get("status") or {}).get("conditions") or []
        ),
        timeout=30,
        what="Established",
    )


@pytest.fixture(scope="module")
def custom(kube: KubeClient, crd_installed: None) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube.api_client)


@pytest.fixture(scope="module")
def admission_namespace(kube: KubeClient) -> Iterator[str]:
    """One namespace for the module: dry runs store nothing, so the cases cannot disturb each other."""
    name = f"admission-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace({"metadata": {"name": name}})
    yield name
    kube.core.delete_namespace(name)


def manifest(spec: dict[str, Any], name: str = "sdxl") -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}


def dry_run_create(custom: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body, dry_run="All", field_validation="Strict"
    )
    return result


@pytest.mark.parametrize("name", sorted(VALID_SPECS))
def test_valid_spec_is_accepted_and_parses(custom: client.CustomObjectsApi, admission_namespace: str,
                                           name: str) -> None:
    stored = dry_run_create(custom, admission_namespace, manifest(VALID_SPECS[name]))
    # What the server stored (with its defaults) is exactly what the operator can parse.
    parse_spec(stored["spec"])


def test_server_applies_defaults(custom: client.CustomObjectsApi, admission_namespace: str) -> None:
    spec = dry_run_create(custom, admission_namespace, manifest(MINIMAL))["spec"]
    assert spec["engine"] == {
        "precision": "fp16",
        "resolutions": [{"width": 1024, "height": 1024}],
        "maxBatchSize": 4,
        "buildTimeout": "2h",
        "executionMode": "BLS",
        "quantizedComponents": ["unetxl"],
        "qualityGate": {"enabled": True, "onUnavailable": "Block", "minPsnrDb": 30, "minSsim": 0.95,
                        "maxClipDropPercent": 0.2, "maxAdherenceDropPoints": 10, "minStepsSsim": 0.8,
                        "calibrationAttempts": 3},
    }
    assert spec["serving"]["gpu"] == {"type": "nvidia-l4", "count": 1}
    assert spec["serving"]["maxQueueDelay"] == "100ms"
    assert spec["pipeline"] == {"steps": 30, "guidanceScale": 5.0, "scheduler": "euler"}
    assert spec["autoscaling"]["enabled"] is False
    assert spec["autoscaling"]["minReplicas"] == 1
    assert spec["autoscaling"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert spec["autoscaling"]["scaleDown"]["stabilizationWindowSeconds"] == 120
    assert spec["autoscaling"]["scaleDown"]["burstMemory"] == "90m"
    assert spec["autoscaling"]["predictive"] == {"enabled": True, "season": "24h"}
    assert spec["autoscaling"]["overload"] == {"enabled": False, "minSteps": 20}
    assert spec["autoscaling"]["scaleUp"]["policies"] == [
        {"type": "Pods", "value": 8, "periodSeconds": 15},
        {"type": "Percent", "value": 900, "periodSeconds": 15},
    ]
    assert "replicas" not in spec
    assert "credentialsSecretRef" not in spec["model"]
    assert spec["pipelines"] == ["text2image"]


def test_server_fills_defaults_inside_partial_objects(custom: client.CustomObjectsApi,
                                                      admission_namespace: str) -> None:
    body = manifest({**MINIMAL, "model": {"source": "s3://bucket/prefix", "credentialsSecretRef": {"name": "creds"}},
                     "pipeline": {"upscale": {}}})
    spec = dry_run_create(custom, admission_namespace, body)["spec"]
    assert spec["model"]["credentialsSecretRef"] == {"name": "creds", "key": "token"}
    assert spec["pipeline"]["upscale"] == {"factor": 2}


def _error(exc: ApiException) -> tuple[list[str], str]:
    body = json.loads(exc.body)
    causes = (body.get("details") or {}).get("causes") or []
    return [str(cause.get("field", "")) for cause in causes], str(body.get("message", ""))


@pytest.mark.parametrize("case", INVALID_SPECS, ids=lambda case: case.id)
def test_invalid_spec_is_rejected_naming_the_field(custom: client.CustomObjectsApi, admission_namespace: str,
                                                   case: Invalid) -> None:
    with pytest.raises(ApiException) as raised:
        dry_run_create(custom, admission_namespace, manifest(case.spec))
    fields, message = _error(raised.value)
    if case.unknown:
        # Strict field validation refuses unknown fields while decoding: 400, the path in the message.
        assert raised.value.status == 400, message
        assert f'unknown field "{case.field}"' in message
        return
    assert raised.value.status == 422, message
    named = [f for f in fields if f == case.field or f.startswith((f"{case.field}.", f"{case.field}["))]
    assert named, f"{case.field} not named in {fields}: {message}"


def test_scale_subresource_drives_spec_replicas_and_reports_status(
    custom: client.CustomObjectsApi, admission_namespace: str
) -> None:
    name = "scaled"
    custom.create_namespaced_custom_object(GROUP, VERSION, admission_namespace, PLURAL,
                                           manifest({**MINIMAL, "replicas": 1}, name))
    selector = f"app.kubernetes.io/instance={name}"
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, admission_namespace, PLURAL, name,
        {"status": {"replicas": 2, "selector": selector, "phase": "Ready"}},
    )
    custom.patch_namespaced_custom_object_scale(
        GROUP, VERSION, admission_namespace, PLURAL, name, {"spec": {"replicas": 3}}
    )
    scale = custom.get_namespaced_custom_object_scale(GROUP, VERSION, admission_namespace, PLURAL, name)
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, admission_namespace, PLURAL, name)
    assert stored["spec"]["replicas"] == 3
    assert scale["spec"]["replicas"] == 3
    assert scale["status"]["replicas"] == 2
    assert scale["status"]["selector"] == selector


def test_scale_is_refused_while_the_autoscaler_owns_replicas(
    custom: client.CustomObjectsApi, admission_namespace: str
) -> None:
    name = "autoscaled"
    custom.create_namespaced_custom_object(
        GROUP, VERSION, admission_namespace, PLURAL,
        manifest({**MINIMAL, "autoscaling": {"enabled": True, "maxReplicas": 4, "queueLatencyTarget": "1s"}}, name),
    )
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object_scale(
            GROUP, VERSION, admission_namespace, PLURAL, name, {"spec": {"replicas": 3}}
        )
    assert raised.value.status == 422
    assert "spec.replicas" in raised.value.body


def test_printer_columns_show_in_kubectl_get(custom: client.CustomObjectsApi, admission_namespace: str,
                                            kube: KubeClient, kubectl_binary: str) -> None:
    name = "printed"
    custom.create_namespaced_custom_object(GROUP, VERSION, admission_namespace, PLURAL, manifest(MINIMAL, name))
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, admission_namespace, PLURAL, name,
        {"status": {"phase": "Building", "ready": "0/1", "queue": "120ms/500ms"}},
    )
    output = subprocess.run(
        [kubectl_binary, "--kubeconfig", str(kube.kubeconfig), "get", "dfs", name, "-n", admission_namespace],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout
    header, row = output.splitlines()[:2]
    assert header.split() == ["NAME", "PHASE", "READY", "QUEUE", "GPU", "AGE"]
    assert row.split()[:5] == [name, "Building", "0/1", "120ms/500ms", "nvidia-l4"]


def test_the_forecast_cold_start_and_speed_tier_survive_the_status_schema(
    custom: client.CustomObjectsApi, admission_namespace: str, kube: KubeClient, kubectl_binary: str
) -> None:
    """What the autoscaler stores is exactly what it reads back: nothing pruned, so a restart changes nothing."""
    name = "remembers"
    custom.create_namespaced_custom_object(GROUP, VERSION, admission_namespace, PLURAL, manifest(MINIMAL, name))
    state = ForecastState(season_s=3600.0, bucket=472_000, total=3.5, samples=2, level=1.25, trend=0.01,
                          seasonal=tuple(0.1 * i for i in range(BUCKETS)), seen=60, error=0.12)
    history = History(forecast=state, speed_tier_since=1_700_000_000.5)
    cold = ColdStart((PodStart("sdxl-triton-abc", 84.2), PodStart("sdxl-triton-def", 97.0)))
    written = {"history": history.to_dict(), "coldStart": cold.to_dict()}
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, admission_namespace, PLURAL, name,
                                                 {"status": {"autoscaling": written}})
    stored = custom.get_namespaced_custom_object(GROUP, VERSION, admission_namespace, PLURAL, name)
    autoscaling = stored["status"]["autoscaling"]
    assert History.from_dict(autoscaling["history"]).forecast == ForecastState.from_dict(state.to_dict())
    assert History.from_dict(autoscaling["history"]).speed_tier_since == history.speed_tier_since
    assert ColdStart.from_dict(autoscaling["coldStart"]) == cold
    output = subprocess.run(
        [kubectl_binary, "--kubeconfig", str(kube.kubeconfig), "get", "dfs", name, "-n", admission_namespace,
         "-o", "wide"], check=True, capture_output=True, text=True, timeout=30,
    ).stdout
    header, row = output.splitlines()[:2]
    assert "COLD START" in header and "97" in row.split()
