"""The build plan and its cache key: engine-affecting edits change the key, nothing else does."""

from __future__ import annotations

from typing import Any

import pytest
from diffusion_operator.api.gpus import GPU_CATALOGUE, gpu_model
from diffusion_operator.api.resource import parse_spec
from diffusion_operator.engines.plan import cache_key_for, plan_for

from engine_builder.plan import NO_TENSORRT
from tests.unit.api.spec_cases import MINIMAL, spec_with

TRT = "10.13.3"


def key(spec: dict[str, Any], trt: str = TRT, backend: str = "tensorrt") -> str:
    return cache_key_for(parse_spec(spec), trt, backend)  # type: ignore[arg-type]


BASE_KEY = key(MINIMAL)

SAME_KEY = {
    "serving-image": spec_with(serving__image="ghcr.io/acme/triton:2"),
    "gpu-count": spec_with(serving__gpu={"count": 4}),
    "resources": spec_with(serving__resources={"limits": {"memory": "64Gi"}}),
    "build-resources": spec_with(engine__buildResources={"requests": {"memory": "20Gi"}}),
    "node-selector": spec_with(serving__nodeSelector={"pool": "a"}),
    "max-queue-delay": spec_with(serving__maxQueueDelay="1s"),
    "steps": spec_with(pipeline__steps=50),
    "guidance": spec_with(pipeline__guidanceScale=7.5),
    "scheduler": spec_with(pipeline__scheduler="ddim"),
    "upscale": spec_with(pipeline__upscale={"factor": 4}),
    "replicas": spec_with(replicas=3),
    "autoscaling": spec_with(autoscaling={"enabled": True, "maxReplicas": 5, "queueLatencyTarget": "1s"}),
    "build-timeout": spec_with(engine__buildTimeout="4h"),
    "builder-image": spec_with(engine__builderImage="ghcr.io/acme/builder:2"),
    "credentials": spec_with(model__credentialsSecretRef={"name": "hf"}),
    "resolution-order-and-duplicates-collapse": spec_with(engine__resolutions=[{"width": 1024, "height": 1024}]),
    # L4 and L40S share compute capability 8.9, so their TensorRT engines are interchangeable.
    "same-compute-capability": spec_with(serving__gpu={"type": "nvidia-l40s"}),
}

OTHER_KEY = {
    "source-revision": spec_with(model__source="hf://stabilityai/stable-diffusion-xl-base-1.0@main"),
    "source-scheme": spec_with(model__source="builtin://tiny-sdxl"),
    "precision": spec_with(engine__precision="int8"),
    "fp8": spec_with(engine__precision="fp8"),
    "resolution": spec_with(engine__resolutions=[{"width": 768, "height": 1344}]),
    "extra-resolution": spec_with(engine__resolutions=[{"width": 1024, "height": 1024}, {"width": 512, "height": 512}]),
    "max-batch": spec_with(engine__maxBatchSize=8),
    "gpu-architecture": spec_with(serving__gpu={"type": "nvidia-h100-80gb"}),
    "gpu-architecture-a100": spec_with(serving__gpu={"type": "nvidia-tesla-a100"}),
}


@pytest.mark.parametrize("name", sorted(SAME_KEY))
def test_serving_pipeline_and_build_settings_keep_the_key(name: str) -> None:
    assert key(SAME_KEY[name]) == BASE_KEY


@pytest.mark.parametrize("name", sorted(OTHER_KEY))
def test_engine_affecting_edits_change_the_key(name: str) -> None:
    assert key(OTHER_KEY[name]) != BASE_KEY


def test_all_engine_affecting_variants_have_distinct_keys() -> None:
    keys = [key(spec) for spec in OTHER_KEY.values()]
    assert len(set(keys)) == len(keys)


def test_a_tensorrt_upgrade_changes_the_key() -> None:
    assert key(MINIMAL, trt="10.14.0") != BASE_KEY


def test_resolution_order_does_not_matter() -> None:
    a = spec_with(engine__resolutions=[{"width": 512, "height": 512}, {"width": 1024, "height": 1024}])
    b = spec_with(engine__resolutions=[{"width": 1024, "height": 1024}, {"width": 512, "height": 512}])
    assert key(a) == key(b)


def test_cpu_backend_records_no_tensorrt_and_ignores_its_version() -> None:
    plan = plan_for(parse_spec(MINIMAL), TRT, "onnxruntime")
    assert (plan.backend, plan.tensorrt_version) == ("onnxruntime", NO_TENSORRT)
    assert key(MINIMAL, trt="1.0", backend="onnxruntime") == key(MINIMAL, trt="2.0", backend="onnxruntime")
    assert key(MINIMAL, backend="onnxruntime") != BASE_KEY


@pytest.mark.parametrize("gpu_type", sorted(GPU_CATALOGUE))
def test_plan_targets_the_serving_gpu(gpu_type: str) -> None:
    plan = plan_for(parse_spec(spec_with(serving__gpu={"type": gpu_type})), TRT)
    assert plan.gpu_type == gpu_type
    assert plan.compute_capability == gpu_model(gpu_type).compute_capability


def test_plan_carries_the_engine_fields_and_only_names_the_credentials_env() -> None:
    spec = parse_spec(spec_with(
        model__credentialsSecretRef={"name": "hub-secret", "key": "token"},
        engine={"precision": "int8", "maxBatchSize": 2, "resolutions": [{"width": 768, "height": 1024}]},
    ))
    plan = plan_for(spec, TRT)
    assert plan.source == MINIMAL["model"]["source"]
    assert (plan.precision, plan.max_batch_size, plan.tensorrt_version) == ("int8", 2, TRT)
    assert [(r.width, r.height) for r in plan.resolutions] == [(768, 1024)]
    assert plan.credentials is not None and plan.credentials.env == "MODEL_SOURCE_TOKEN"
    assert "hub-secret" not in plan.model_dump_json()


def test_gpu_catalogue_rows() -> None:
    l4 = gpu_model("nvidia-l4")
    assert l4.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert l4.tolerations == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present",
                               "effect": "NoSchedule"}]
    assert l4.supports_fp8 and gpu_model("nvidia-h100-80gb").supports_fp8
    assert not gpu_model("nvidia-tesla-t4").supports_fp8
    with pytest.raises(KeyError, match="known"):
        gpu_model("nvidia-rtx-4090")
