"""The Triton Deployment: what it serves, where it runs, how it probes, who owns its replicas."""

from __future__ import annotations

import json
from typing import Any

import pytest
from diffusion_operator.api.resource import parse_spec
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.deployment import build_deployment
from diffusion_operator.render.replicas import (
    AUTOSCALER_FIELD_MANAGER,
    OPERATOR_FIELD_MANAGER,
    replica_ownership,
)

from tests.unit.api.spec_cases import AUTOSCALED, MINIMAL, VALID_SPECS, spec_with

KEY = "sdxl-0123456789abcdef"
SETTINGS = RenderSettings()


def render(spec_dict: dict[str, Any], key: str = KEY, replicas: int | None = 1) -> dict[str, Any]:
    return build_deployment("sdxl", "team-a", parse_spec(spec_dict), cache_key=key, replicas=replicas,
                            settings=SETTINGS)


def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def triton(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod(deployment)["containers"]
    return container  # type: ignore[no-any-return]


def env(deployment: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in triton(deployment)["env"]}


def test_mounts_the_keys_repository_read_only() -> None:
    (mount,) = [m for m in triton(render(MINIMAL))["volumeMounts"] if m["name"] == "engine-cache"]
    assert mount == {"name": "engine-cache", "mountPath": "/models", "subPath": f"{KEY}/model_repository",
                     "readOnly": True}
    assert "--model-repository=/models" in triton(render(MINIMAL))["args"]


def test_ports_and_probes() -> None:
    container = triton(render(MINIMAL))
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [
        ("http", 8000), ("grpc", 8001), ("metrics", 8002)]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1200  # 20 minutes to load engines


def test_gpu_scheduling_merges_user_settings() -> None:
    deployment = render(spec_with(serving={
        "gpu": {"type": "nvidia-l40s", "count": 2},
        "nodeSelector": {"cloud.google.com/gke-nodepool": "l40s"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "sdxl", "effect": "NoSchedule"}],
        "resources": {"requests": {"cpu": 4, "memory": "32Gi"}, "limits": {"memory": "64Gi"}},
    }))
    spec = pod(deployment)
    assert spec["nodeSelector"] == {"cloud.google.com/gke-nodepool": "l40s",
                                    "cloud.google.com/gke-accelerator": "nvidia-l40s"}
    assert [t["key"] for t in spec["tolerations"]] == ["nvidia.com/gpu", "dedicated"]
    assert triton(deployment)["resources"] == {"limits": {"memory": "64Gi", "nvidia.com/gpu": "2"},
                                               "requests": {"cpu": "4", "memory": "32Gi"}}


def test_restricted_pod_security() -> None:
    deployment = render(MINIMAL)
    assert pod(deployment)["securityContext"]["runAsNonRoot"] is True
    assert pod(deployment)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod(deployment)["automountServiceAccountToken"] is False
    assert triton(deployment)["securityContext"]["allowPrivilegeEscalation"] is False
    assert triton(deployment)["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_pipeline_defaults_reach_the_pods_as_env() -> None:
    values = env(render(spec_with(pipeline={"steps": 40, "guidanceScale": 7, "scheduler": "ddim",
                                            "upscale": {"factor": 4}}, serving__maxQueueDelay="250ms")))
    assert values["SDXL_DEFAULT_STEPS"] == "40"
    assert values["SDXL_DEFAULT_GUIDANCE_SCALE"] == "7.0"
    assert values["SDXL_DEFAULT_SCHEDULER"] == "ddim"
    assert values["SDXL_UPSCALE_FACTOR"] == "4"
    assert values["SDXL_MAX_QUEUE_DELAY_MICROSECONDS"] == "250000"
    assert env(render(MINIMAL))["SDXL_UPSCALE_FACTOR"] == "1"


def test_a_new_engine_key_changes_the_pod_template_so_pods_roll() -> None:
    old, new = render(MINIMAL, key="sdxl-old"), render(MINIMAL, key="sdxl-new")
    assert old["spec"]["template"] != new["spec"]["template"]
    assert new["spec"]["template"]["metadata"]["annotations"]["diffusion.dev/engine-key"] == "sdxl-new"
    assert new["spec"]["template"]["metadata"]["labels"]["diffusion.dev/engine-key"] == "sdxl-new"
    assert old["spec"]["selector"] == new["spec"]["selector"]  # selectors are immutable


def test_rollout_never_drops_below_the_current_count() -> None:
    assert render(MINIMAL)["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_pipeline_only_edits_keep_the_engine_mount() -> None:
    before, after = render(MINIMAL), render(spec_with(pipeline__steps=50))
    assert triton(before)["volumeMounts"] == triton(after)["volumeMounts"]


def test_serving_image_falls_back_to_the_operator_default() -> None:
    assert triton(render(MINIMAL))["image"] == SETTINGS.triton_image
    assert triton(render(spec_with(serving__image="ghcr.io/acme/triton:9")))["image"] == "ghcr.io/acme/triton:9"


@pytest.mark.parametrize(
    ("spec", "owner", "manager", "rendered"),
    [
        (MINIMAL, "spec", OPERATOR_FIELD_MANAGER, 1),
        (spec_with(replicas=3), "spec", OPERATOR_FIELD_MANAGER, 3),
        (spec_with(replicas=0), "spec", OPERATOR_FIELD_MANAGER, 0),
        (spec_with(autoscaling=AUTOSCALED), "autoscaler", AUTOSCALER_FIELD_MANAGER, None),
        (VALID_SPECS["scale-to-zero"], "autoscaler", AUTOSCALER_FIELD_MANAGER, None),
    ],
)
def test_exactly_one_owner_of_replicas(spec: dict[str, Any], owner: str, manager: str,
                                       rendered: int | None) -> None:
    ownership = replica_ownership(parse_spec(spec))
    assert (ownership.owner, ownership.field_manager, ownership.rendered_replicas) == (owner, manager, rendered)
    deployment = render(spec, replicas=ownership.rendered_replicas)
    if rendered is None:
        assert "replicas" not in deployment["spec"]
    else:
        assert deployment["spec"]["replicas"] == rendered


def test_metadata() -> None:
    deployment = render(MINIMAL)
    assert deployment["apiVersion"] == "apps/v1" and deployment["kind"] == "Deployment"
    assert deployment["metadata"]["name"] == "sdxl"
    assert deployment["metadata"]["namespace"] == "team-a"
    assert deployment["metadata"]["labels"]["diffusion.dev/service"] == "sdxl"
    assert "ownerReferences" not in deployment["metadata"]  # the caller adopts


def test_rendered_manifests_are_plain_json_data() -> None:
    deployment = render(VALID_SPECS["full-serving"], replicas=None)
    assert json.loads(json.dumps(deployment)) == deployment
