"""The build Job and its plan ConfigMap."""

from __future__ import annotations

import json
from typing import Any

import pytest
from diffusion_operator.api.resource import parse_spec
from diffusion_operator.engines.plan import plan_for
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.engine_job import build_engine_job, build_node_selector, build_plan_config_map

from engine_builder.errors import QualityGateFailedError, QualityGateUnavailableError
from engine_builder.plan import BuildPlan
from tests.unit.api.spec_cases import MINIMAL, spec_with
from tests.unit.reconcile.builds import build_for

SETTINGS = RenderSettings()


def render(spec_dict: dict[str, Any], settings: RenderSettings = SETTINGS) -> tuple[dict[str, Any], BuildPlan]:
    spec = parse_spec(spec_dict)
    plan = plan_for(spec, "10.13.3")
    return build_engine_job("team-a", spec, plan, settings, build_for(spec).requirements), plan


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return only


def test_job_is_named_after_the_key_and_runs_the_builder_on_the_plan() -> None:
    job, plan = render(MINIMAL)
    assert job["metadata"]["name"] == f"engine-{plan.cache_key()}"
    assert job["metadata"]["namespace"] == "team-a"
    assert container(job)["command"] == ["engine-builder", "build", "--plan", "/plan/plan.json", "--out", "/cache"]
    assert container(job)["image"] == SETTINGS.builder_image


def test_job_runs_on_the_serving_gpu_pool() -> None:
    job, _ = render(spec_with(serving__gpu={"type": "nvidia-h100-80gb", "count": 4}))
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in pod[
        "tolerations"]
    assert container(job)["resources"]["limits"]["nvidia.com/gpu"] == "1"  # one GPU builds, whatever serves


def test_deadline_backoff_and_failure_reporting() -> None:
    job, _ = render(spec_with(engine__buildTimeout="1h30m"))
    assert job["spec"]["activeDeadlineSeconds"] == 5400
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert container(job)["terminationMessagePolicy"] == "FallbackToLogsOnError"
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert {"action": "FailJob", "onExitCodes": {"containerName": "builder", "operator": "In", "values": [2]}} in rules


def test_an_oom_killed_builder_fails_the_job_at_once_but_a_disruption_is_still_no_try() -> None:
    """A retry would run with the same memory limit; an eviction's SIGKILL (also 137) must not end the build."""
    job, _ = render(MINIMAL)
    rules = job["spec"]["podFailurePolicy"]["rules"]
    killed = {"action": "FailJob", "onExitCodes": {"containerName": "builder", "operator": "In", "values": [137]}}
    disrupted = {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert killed in rules and disrupted in rules
    assert rules.index(disrupted) < rules.index(killed)  # the first rule that matches wins


def test_a_build_the_quality_gate_refused_fails_the_job_at_once() -> None:
    """The gate's verdict is the same on a retry (it already calibrates several times in one pod); the
    refusal must reach status now, not after three more builds."""
    job, _ = render(MINIMAL)
    fail_job_codes = [rule["onExitCodes"]["values"] for rule in job["spec"]["podFailurePolicy"]["rules"]
                      if rule["action"] == "FailJob"]
    assert [QualityGateFailedError.exit_code] in fail_job_codes
    assert [QualityGateUnavailableError.exit_code] not in fail_job_codes  # a CLIP source may be back


def test_default_build_timeout_is_two_hours() -> None:
    job, _ = render(MINIMAL)
    assert job["spec"]["activeDeadlineSeconds"] == 7200


def test_restricted_security_and_service_account() -> None:
    job, _ = render(MINIMAL)
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "diffusion-engine-builder"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(job)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}


def test_cache_claim_and_plan_are_mounted() -> None:
    job, plan = render(MINIMAL)
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["engine-cache"]["persistentVolumeClaim"] == {"claimName": "diffusion-engine-cache"}
    assert volumes["plan"]["configMap"]["name"] == f"engine-{plan.cache_key()}-plan"
    mounts = {m["name"]: m for m in container(job)["volumeMounts"]}
    assert mounts["engine-cache"]["mountPath"] == "/cache" and not mounts["engine-cache"].get("readOnly")
    assert mounts["plan"] == {"name": "plan", "mountPath": "/plan", "readOnly": True}


def test_credentials_come_from_the_secret_by_reference_only() -> None:
    job, _ = render(spec_with(model__credentialsSecretRef={"name": "hub-token", "key": "HF_TOKEN"}))
    env = {e["name"]: e for e in container(job)["env"]}
    assert env["MODEL_SOURCE_TOKEN"] == {
        "name": "MODEL_SOURCE_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hub-token", "key": "HF_TOKEN"}},
    }
    assert all("value" not in e for e in container(job)["env"] if e["name"] == "MODEL_SOURCE_TOKEN")


def test_no_credentials_no_secret_env() -> None:
    job, _ = render(MINIMAL)
    assert "MODEL_SOURCE_TOKEN" not in {e["name"] for e in container(job)["env"]}


def test_pvc_sources_are_mounted_read_only_under_the_builders_pvc_root() -> None:
    job, _ = render(spec_with(model__source="pvc://models/sdxl/base"))
    env = {e["name"]: e.get("value") for e in container(job)["env"]}
    assert env["PVC_ROOT"] == "/sources"
    mounts = {m["name"]: m for m in container(job)["volumeMounts"]}
    assert mounts["model-source"] == {"name": "model-source", "mountPath": "/sources/models", "readOnly": True}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["model-source"]["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}


def test_spec_builder_image_wins_over_the_default() -> None:
    job, _ = render(spec_with(engine__builderImage="ghcr.io/acme/builder:9"))
    assert container(job)["image"] == "ghcr.io/acme/builder:9"


def test_plan_config_map_holds_the_plan_the_builder_will_parse() -> None:
    spec = parse_spec(spec_with(engine__precision="int8"))
    plan = plan_for(spec, "10.13.3")
    config_map = build_plan_config_map("team-a", plan)
    assert config_map["metadata"]["name"] == f"engine-{plan.cache_key()}-plan"
    assert config_map["immutable"] is True
    assert BuildPlan.model_validate(json.loads(config_map["data"]["plan.json"])) == plan
    assert build_plan_config_map("team-a", plan) == config_map  # byte-for-byte stable


def test_job_labels_select_its_pods_by_engine_key() -> None:
    job, plan = render(MINIMAL)
    assert job["metadata"]["labels"]["diffusion.dev/engine-key"] == plan.cache_key()
    assert job["spec"]["template"]["metadata"]["labels"] == job["metadata"]["labels"]


def test_the_build_job_plan_carries_the_pipelines_to_the_builder() -> None:
    plan = plan_for(parse_spec({"model": {"source": "builtin://tiny-sdxl"}, "pipelines": ["photoshoot", "text2image"]}),
                    "10.13.3", "onnxruntime")
    config_map = build_plan_config_map("team-a", plan)
    written = json.loads(config_map["data"]["plan.json"])
    assert written["pipelines"] == ["text2image", "photoshoot"]
    assert written["inpaint_source"] == "builtin://tiny-sdxl-inpaint"
    assert BuildPlan.model_validate(written).cache_key() == plan.cache_key()
    assert plan.cache_key() in config_map["metadata"]["name"]


def test_the_build_job_mounts_every_claim_the_photoshoot_sources_live_on() -> None:
    spec = parse_spec(
        spec_with(
            pipelines=["photoshoot"],
            model__source="pvc://models/sdxl-base",
            model__inpaintSource="pvc://models/sdxl-inpaint",
            model__segmentationSource="pvc://segmenters/u2net",
        )
    )
    job = build_engine_job("team-a", spec, plan_for(spec, "10.13.3"), RenderSettings(), build_for(spec).requirements)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/sources/models"] == "model-source"
    assert mounts["/sources/segmenters"] == "model-source-1"
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims["model-source"] == "models" and claims["model-source-1"] == "segmenters"


@pytest.mark.parametrize(("spec", "requests", "limits"), [
    # The figures: the sdxl fp16 export's largest stage (bigG, 8.81 GiB + 15 %), limit = request, the operator's CPU.
    (MINIMAL, {"cpu": "4", "memory": "10375Mi"}, {"memory": "10375Mi", "nvidia.com/gpu": "1"}),
    ({"model": {"source": "builtin://tiny-sdxl"}}, {"cpu": "4", "memory": "2356Mi"},
     {"memory": "2356Mi", "nvidia.com/gpu": "1"}),
    # The spec's override wins, key by key.
    (spec_with(engine__buildResources={"requests": {"cpu": "8", "memory": "20Gi"}, "limits": {"memory": "24Gi"}}),
     {"cpu": "8", "memory": "20Gi"}, {"memory": "24Gi", "nvidia.com/gpu": "1"}),
    (spec_with(engine__buildResources={"limits": {"memory": "12Gi", "ephemeral-storage": "100Gi"}}),
     {"cpu": "4", "memory": "12Gi", "ephemeral-storage": "100Gi"},
     {"memory": "12Gi", "ephemeral-storage": "100Gi", "nvidia.com/gpu": "1"}),
])
def test_the_build_asks_for_its_memory_in_requests_and_limits(spec: dict[str, Any], requests: dict[str, str],
                                                              limits: dict[str, str]) -> None:
    job, _ = render(spec)
    assert container(job)["resources"] == {"requests": requests, "limits": limits}


def test_the_node_selector_the_fit_check_reads_is_the_jobs() -> None:
    settings = RenderSettings(gpu_node_labels={"nvidia-l4": {"nvidia.com/gpu.product": "NVIDIA-L4"}})
    job, plan = render(MINIMAL, settings)
    assert build_node_selector(plan, settings) == job["spec"]["template"]["spec"]["nodeSelector"] == {
        "nvidia.com/gpu.product": "NVIDIA-L4"}
