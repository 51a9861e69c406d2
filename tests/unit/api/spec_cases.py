"""Valid and invalid DiffusionService specs, shared by the pydantic unit tests and the admission tests.

One table, two judges: the API server (CEL + OpenAPI, tests/integration/api) and the pydantic models
(tests/unit/api) must both reject every invalid spec, so the two can never silently disagree.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

SDXL = "hf://stabilityai/stable-diffusion-xl-base-1.0@462165984030d82259a11f4367a4eed129e94a7b"
MINIMAL: dict[str, Any] = {"model": {"source": SDXL}}
DELETE = object()


def spec_with(**paths: Any) -> dict[str, Any]:
    """MINIMAL with dotted paths set (``engine__precision="fp8"``); DELETE removes a key."""
    spec = copy.deepcopy(MINIMAL)
    for dotted, value in paths.items():
        *parents, leaf = dotted.split("__")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return spec


@dataclass(frozen=True)
class Invalid:
    id: str
    spec: dict[str, Any]
    #: The field path the API server's error must name (``spec.`` prefix included).
    field: str
    #: An unknown field: the API server refuses it only under fieldValidation=Strict, as 400 BadRequest.
    unknown: bool = False


AUTOSCALED = {"enabled": True, "minReplicas": 1, "maxReplicas": 4, "queueLatencyTarget": "500ms"}

VALID_SPECS: dict[str, dict[str, Any]] = {
    "minimal": MINIMAL,
    "builtin-tiny": {
        "model": {"source": "builtin://tiny-sdxl"},
        "engine": {"resolutions": [{"width": 256, "height": 256}]},
    },
    "pvc-source": {"model": {"source": "pvc://models/sdxl-base"}},
    "s3-with-secret": {
        "model": {"source": "s3://my-bucket/sdxl", "credentialsSecretRef": {"name": "s3-creds", "key": "token"}}
    },
    "gs-source": {"model": {"source": "gs://bucket_1/sdxl/base"}},
    "int8-on-l4": spec_with(engine__precision="int8", serving__gpu={"type": "nvidia-l4", "count": 1}),
    "fp8-on-h100-with-upscale": spec_with(
        engine__precision="fp8", serving__gpu={"type": "nvidia-h100-80gb"}, pipeline__upscale={"factor": 4}
    ),
    "fp8-on-l40s": spec_with(engine__precision="fp8", serving__gpu={"type": "nvidia-l40s", "count": 2}),
    "autoscaled": spec_with(autoscaling=AUTOSCALED),
    "scale-to-zero": spec_with(autoscaling={**AUTOSCALED, "minReplicas": 0, "activation": {
        "query": 'sum(gateway_pending_requests{service="sdxl"})', "scaleToZeroAfter": "15m"}}),
    # The activator fronts the service and its held count wakes it: nothing else to write.
    "scale-to-zero-alone": spec_with(autoscaling={**AUTOSCALED, "minReplicas": 0}),
    "scale-to-zero-with-idle-time": spec_with(autoscaling={**AUTOSCALED, "minReplicas": 0, "activation": {
        "scaleToZeroAfter": "30s", "pendingThreshold": 2}}),
    "fallback-fixed": spec_with(autoscaling={**AUTOSCALED, "fallback": {"mode": "Fixed", "replicas": 4}}),
    "manual-zero-replicas": spec_with(replicas=0),
    "many-resolutions": spec_with(
        engine__resolutions=[
            {"width": 1024, "height": 1024},
            {"width": 1536, "height": 640},
            {"width": 256, "height": 1536},
        ]
    ),
    "full-serving": spec_with(
        serving={
            "gpu": {"type": "nvidia-tesla-a100", "count": 8},
            "image": "nvcr.io/nvidia/tritonserver:25.01-py3",
            "resources": {"requests": {"cpu": 4, "memory": "32Gi"}, "limits": {"memory": "64Gi"}},
            "nodeSelector": {"cloud.google.com/gke-nodepool": "a100-pool"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "sdxl", "effect": "NoSchedule"}],
            "maxQueueDelay": "0s",
        },
        pipeline={"steps": 150, "guidanceScale": 0, "scheduler": "dpmpp_2m"},
        engine={"maxBatchSize": 16, "buildTimeout": "1h30m", "builderImage": "ghcr.io/acme/engine-builder:1"},
    ),
    "network-policy": spec_with(serving__networkPolicy={
        "enabled": True,
        "allowedClients": [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "sdxl-gateway"}}},
            {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["web"]}]},
             "podSelector": {}},
        ],
        "metricsScrapers": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "obs"}}}],
    }),
    "tolerate-everything-and-requests-within-limits": spec_with(serving={
        "tolerations": [{"operator": "Exists"},
                        {"key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1024Mi"}},
    }),
    "photoshoot-tiny": {"model": {"source": "builtin://tiny-sdxl"}, "pipelines": ["text2image", "photoshoot"]},
    "in-process-text2image": spec_with(engine__executionMode="InProcess"),
    "quality-gate-custom": spec_with(engine__qualityGate={
        "minPsnrDb": 28, "minSsim": 0.9, "minStepsSsim": 0.7, "onUnavailable": "Publish", "calibrationAttempts": 5,
        "clipSource": "pvc://models/clip/open_clip_pytorch_model.bin", "imageSize": 512,
        "prompts": [{"prompt": "a red circle", "seed": 1}, {"prompt": "a red circle", "seed": 2}]}),
    "quality-gate-off": spec_with(engine__qualityGate={"enabled": False}),
    "int8-unet-and-vae": spec_with(engine__precision="int8", engine__quantizedComponents=["unetxl", "vae"]),
    "photoshoot-only-with-own-models": spec_with(
        model__inpaintSource="pvc://models/sdxl-inpainting", model__segmentationSource="hf://acme/product-bg-onnx@v2",
        pipelines=["photoshoot"]),
    "photoshoot-real-base-default-inpaint": spec_with(model__segmentationSource="pvc://models/u2net",
                                                      pipelines=["photoshoot", "text2image"]),
    "burst-memory-off": spec_with(autoscaling={**AUTOSCALED, "scaleDown": {"burstMemory": "0s"}}),
    "predictive-off": spec_with(autoscaling={**AUTOSCALED, "predictive": {"enabled": False}}),
    "predictive-weekly-season": spec_with(autoscaling={**AUTOSCALED, "predictive": {"season": "168h"}}),
    "overload-tier-30-to-20": spec_with(autoscaling={**AUTOSCALED, "overload": {"enabled": True, "minSteps": 20}}),
    "overload-off-with-few-steps": spec_with(pipeline__steps=8, autoscaling={**AUTOSCALED, "overload": {}}),
    "overload-below-custom-steps": spec_with(pipeline__steps=50,
                                             autoscaling={**AUTOSCALED, "overload": {"enabled": True, "minSteps": 35}}),
    "api-on-with-keys-only": spec_with(api={"enabled": True, "auth": {"secretRef": {"name": "sdxl-api-keys"}}}),
    "api-on-with-caps-and-limits": spec_with(
        engine__resolutions=[{"width": 768, "height": 768}, {"width": 1024, "height": 1536}],
        api={"enabled": True, "auth": {"secretRef": {"name": "sdxl-api-keys"}}, "maxImagesPerRequest": 4,
             "sizes": [{"width": 1024, "height": 1024}, {"width": 768, "height": 1536}], "maxSteps": 50,
             "perKey": {"requestsPerMinute": 60, "maxConcurrent": 2}},
    ),
    "api-off-without-keys": spec_with(api={"enabled": False}),
    "build-resources-memory-only": spec_with(engine__buildResources={"requests": {"memory": "20Gi"}}),
    "build-resources-full": spec_with(engine__buildResources={
        "requests": {"cpu": 8, "memory": "20Gi", "ephemeral-storage": "100Gi"},
        "limits": {"memory": "24Gi", "ephemeral-storage": "200Gi"}}),
    "autoscaling-disabled-with-settings": spec_with(
        autoscaling={"enabled": False, "minReplicas": 2, "maxReplicas": 3,
                     "scaleDown": {"stabilizationWindowSeconds": 600,
                                   "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}]}},
        replicas=2,
    ),
}

INVALID_SPECS: list[Invalid] = [
    Invalid("missing-model", spec_with(model=DELETE), "spec.model"),
    Invalid("missing-source", spec_with(model={}), "spec.model.source"),
    Invalid("unknown-scheme", spec_with(model__source="ftp://example.com/sdxl"), "spec.model.source"),
    Invalid("hf-without-repo", spec_with(model__source="hf://stabilityai"), "spec.model.source"),
    Invalid("unknown-builtin", spec_with(model__source="builtin://sd15"), "spec.model.source"),
    Invalid("source-not-a-string", spec_with(model__source=42), "spec.model.source"),
    Invalid("secret-ref-without-name", spec_with(model__credentialsSecretRef={"key": "token"}),
            "spec.model.credentialsSecretRef.name"),
    Invalid("secret-name-not-dns", spec_with(model__credentialsSecretRef={"name": "HF_Token"}),
            "spec.model.credentialsSecretRef.name"),
    Invalid("bad-precision", spec_with(engine__precision="bf16"), "spec.engine.precision"),
    Invalid("fp8-on-a10g", spec_with(engine__precision="fp8", serving__gpu={"type": "nvidia-a10g"}),
            "spec.engine.precision"),
    Invalid("fp8-on-a100", spec_with(engine__precision="fp8", serving__gpu={"type": "nvidia-tesla-a100"}),
            "spec.engine.precision"),
    Invalid("fp8-on-t4", spec_with(engine__precision="fp8", serving__gpu={"type": "nvidia-tesla-t4"}),
            "spec.engine.precision"),
    Invalid("resolution-too-small", spec_with(engine__resolutions=[{"width": 128, "height": 1024}]),
            "spec.engine.resolutions[0].width"),
    Invalid("resolution-too-large", spec_with(engine__resolutions=[{"width": 1024, "height": 2048}]),
            "spec.engine.resolutions[0].height"),
    Invalid("resolution-not-multiple-of-8", spec_with(engine__resolutions=[{"width": 1020, "height": 1024}]),
            "spec.engine.resolutions[0].width"),
    Invalid("resolution-missing-height", spec_with(engine__resolutions=[{"width": 1024}]),
            "spec.engine.resolutions[0].height"),
    Invalid("no-resolutions", spec_with(engine__resolutions=[]), "spec.engine.resolutions"),
    Invalid("duplicate-resolutions",
            spec_with(engine__resolutions=[{"width": 512, "height": 512}, {"width": 512, "height": 512}]),
            "spec.engine.resolutions"),
    Invalid("max-batch-0", spec_with(engine__maxBatchSize=0), "spec.engine.maxBatchSize"),
    Invalid("quality-ssim-above-1", spec_with(engine__qualityGate={"minSsim": 1.5}), "spec.engine.qualityGate.minSsim"),
    Invalid("quality-empty-prompts", spec_with(engine__qualityGate={"prompts": []}),
            "spec.engine.qualityGate.prompts"),
    Invalid("quality-duplicate-prompts",
            spec_with(engine__qualityGate={"prompts": [{"prompt": "a cat", "seed": 1}] * 2}),
            "spec.engine.qualityGate.prompts"),
    Invalid("quality-clip-from-a-hub", spec_with(engine__qualityGate={"clipSource": "hf://openai/clip"}),
            "spec.engine.qualityGate.clipSource"),
    Invalid("quality-no-calibration", spec_with(engine__qualityGate={"calibrationAttempts": 0}),
            "spec.engine.qualityGate.calibrationAttempts"),
    Invalid("quantize-unknown-component", spec_with(engine__quantizedComponents=["upscale"]),
            "spec.engine.quantizedComponents[0]"),
    Invalid("max-batch-64", spec_with(engine__maxBatchSize=64), "spec.engine.maxBatchSize"),
    Invalid("build-timeout-not-duration", spec_with(engine__buildTimeout="2 hours"), "spec.engine.buildTimeout"),
    Invalid("build-timeout-zero", spec_with(engine__buildTimeout="0s"), "spec.engine.buildTimeout"),
    Invalid("unknown-gpu", spec_with(serving__gpu={"type": "nvidia-rtx-4090"}), "spec.serving.gpu.type"),
    Invalid("gpu-count-0", spec_with(serving__gpu={"count": 0}), "spec.serving.gpu.count"),
    Invalid("gpu-count-9", spec_with(serving__gpu={"count": 9}), "spec.serving.gpu.count"),
    Invalid("max-queue-delay-not-duration", spec_with(serving__maxQueueDelay="fast"), "spec.serving.maxQueueDelay"),
    Invalid("node-selector-overrides-gpu",
            spec_with(serving__nodeSelector={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}),
            "spec.serving.nodeSelector"),
    Invalid("gpu-in-resources", spec_with(serving__resources={"limits": {"nvidia.com/gpu": 2}}),
            "spec.serving.resources.limits"),
    Invalid("bad-quantity", spec_with(serving__resources={"requests": {"memory": "lots"}}),
            "spec.serving.resources.requests"),
    Invalid("negative-quantity", spec_with(serving__resources={"requests": {"cpu": "-1"}}),
            "spec.serving.resources.requests"),
    Invalid("unknown-resource-name", spec_with(serving__resources={"limits": {"gpus": 1}}),
            "spec.serving.resources.limits"),
    Invalid("request-above-limit",
            spec_with(serving__resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}),
            "spec.serving.resources.requests"),
    Invalid("build-memory-request-above-limit",
            spec_with(engine__buildResources={"requests": {"memory": "32Gi"}, "limits": {"memory": "24Gi"}}),
            "spec.engine.buildResources.requests"),
    Invalid("build-resources-gpu", spec_with(engine__buildResources={"limits": {"nvidia.com/gpu": 1}}),
            "spec.engine.buildResources.limits"),
    Invalid("build-resources-bad-quantity", spec_with(engine__buildResources={"requests": {"memory": "16 GB"}}),
            "spec.engine.buildResources.requests"),
    Invalid("image-with-whitespace", spec_with(serving__image=" nvcr.io/nvidia/tritonserver"),
            "spec.serving.image"),
    Invalid("node-selector-key-not-a-label", spec_with(serving__nodeSelector={"pool name": "a"}),
            "spec.serving.nodeSelector"),
    Invalid("node-selector-value-not-a-label", spec_with(serving__nodeSelector={"pool": "a b"}),
            "spec.serving.nodeSelector.pool"),
    Invalid("toleration-without-key-must-be-exists", spec_with(serving__tolerations=[{"value": "x"}]),
            "spec.serving.tolerations[0].operator"),
    Invalid("toleration-exists-with-value",
            spec_with(serving__tolerations=[{"key": "a", "operator": "Exists", "value": "x"}]),
            "spec.serving.tolerations[0].value"),
    Invalid("toleration-seconds-without-no-execute",
            spec_with(serving__tolerations=[{"key": "a", "tolerationSeconds": 5, "effect": "NoSchedule"}]),
            "spec.serving.tolerations[0].tolerationSeconds"),
    Invalid("network-policy-peer-without-selector",
            spec_with(serving__networkPolicy={"enabled": True, "allowedClients": [{}]}),
            "spec.serving.networkPolicy.allowedClients[0]"),
    Invalid("network-policy-in-without-values",
            spec_with(serving__networkPolicy={"allowedClients": [
                {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}]}),
            "spec.serving.networkPolicy.allowedClients[0].podSelector.matchExpressions[0].values"),
    Invalid("network-policy-label-key-not-a-label",
            spec_with(serving__networkPolicy={"metricsScrapers": [
                {"namespaceSelector": {"matchLabels": {"-bad": "x"}}}]}),
            "spec.serving.networkPolicy.metricsScrapers[0].namespaceSelector.matchLabels"),
    Invalid("bad-toleration-operator", spec_with(serving__tolerations=[{"key": "a", "operator": "Maybe"}]),
            "spec.serving.tolerations[0].operator"),
    Invalid("steps-0", spec_with(pipeline__steps=0), "spec.pipeline.steps"),
    Invalid("predictive-season-too-short", spec_with(autoscaling={"predictive": {"season": "30m"}}),
            "spec.autoscaling.predictive.season"),
    Invalid("predictive-season-too-long", spec_with(autoscaling={"predictive": {"season": "169h"}}),
            "spec.autoscaling.predictive.season"),
    Invalid("predictive-season-not-a-duration", spec_with(autoscaling={"predictive": {"season": "daily"}}),
            "spec.autoscaling.predictive.season"),
    Invalid("predictive-enabled-not-bool", spec_with(autoscaling={"predictive": {"enabled": "maybe"}}),
            "spec.autoscaling.predictive.enabled"),
    Invalid("overload-min-steps-0", spec_with(autoscaling={"overload": {"enabled": True, "minSteps": 0}}),
            "spec.autoscaling.overload.minSteps"),
    Invalid("overload-min-steps-151", spec_with(autoscaling={"overload": {"minSteps": 151}}),
            "spec.autoscaling.overload.minSteps"),
    Invalid("overload-min-steps-not-below-steps",
            spec_with(autoscaling={"overload": {"enabled": True, "minSteps": 30}}),
            "spec.autoscaling.overload.minSteps"),
    Invalid("overload-min-steps-above-custom-steps",
            spec_with(pipeline__steps=12, autoscaling={"overload": {"enabled": True}}),
            "spec.autoscaling.overload.minSteps"),
    Invalid("overload-unknown-field", spec_with(autoscaling={"overload": {"steps": 20}}),
            "spec.autoscaling.overload.steps", unknown=True),
    Invalid("steps-151", spec_with(pipeline__steps=151), "spec.pipeline.steps"),
    Invalid("guidance-negative", spec_with(pipeline__guidanceScale=-1), "spec.pipeline.guidanceScale"),
    Invalid("guidance-31", spec_with(pipeline__guidanceScale=31), "spec.pipeline.guidanceScale"),
    Invalid("unknown-scheduler", spec_with(pipeline__scheduler="plms"), "spec.pipeline.scheduler"),
    Invalid("upscale-3", spec_with(pipeline__upscale={"factor": 3}), "spec.pipeline.upscale.factor"),
    Invalid("negative-replicas", spec_with(replicas=-1), "spec.replicas"),
    Invalid("replicas-while-autoscaling", spec_with(replicas=2, autoscaling=AUTOSCALED), "spec.replicas"),
    Invalid("min-above-max", spec_with(autoscaling={**AUTOSCALED, "minReplicas": 5, "maxReplicas": 2}),
            "spec.autoscaling.minReplicas"),
    Invalid("max-replicas-0", spec_with(autoscaling={"maxReplicas": 0}), "spec.autoscaling.maxReplicas"),
    Invalid("enabled-without-max", spec_with(autoscaling={"enabled": True, "queueLatencyTarget": "1s"}),
            "spec.autoscaling.maxReplicas"),
    Invalid("enabled-without-target", spec_with(autoscaling={"enabled": True, "maxReplicas": 3}),
            "spec.autoscaling.queueLatencyTarget"),
    Invalid("target-zero", spec_with(autoscaling={**AUTOSCALED, "queueLatencyTarget": "0ms"}),
            "spec.autoscaling.queueLatencyTarget"),
    Invalid("target-not-duration", spec_with(autoscaling={**AUTOSCALED, "queueLatencyTarget": "500"}),
            "spec.autoscaling.queueLatencyTarget"),
    Invalid("target-negative", spec_with(autoscaling={**AUTOSCALED, "queueLatencyTarget": "-1s"}),
            "spec.autoscaling.queueLatencyTarget"),
    Invalid("prometheus-url-not-http", spec_with(autoscaling={"prometheus": {"url": "prometheus:9090"}}),
            "spec.autoscaling.prometheus.url"),
    Invalid("burst-memory-too-long", spec_with(autoscaling={"scaleDown": {"burstMemory": "5h"}}),
            "spec.autoscaling.scaleDown.burstMemory"),
    Invalid("burst-memory-not-a-duration", spec_with(autoscaling={"scaleDown": {"burstMemory": "90 minutes"}}),
            "spec.autoscaling.scaleDown.burstMemory"),
    Invalid("scale-down-window-too-long",
            spec_with(autoscaling={"scaleDown": {"stabilizationWindowSeconds": 7200}}),
            "spec.autoscaling.scaleDown.stabilizationWindowSeconds"),
    Invalid("fixed-fallback-without-replicas",
            spec_with(autoscaling={**AUTOSCALED, "fallback": {"mode": "Fixed"}}),
            "spec.autoscaling.fallback.replicas"),
    Invalid("fallback-threshold-zero", spec_with(autoscaling={**AUTOSCALED, "fallback": {"failureThreshold": 0}}),
            "spec.autoscaling.fallback.failureThreshold"),
    Invalid("activation-query-empty",
            spec_with(autoscaling={**AUTOSCALED, "minReplicas": 0, "activation": {"query": ""}}),
            "spec.autoscaling.activation.query"),
    Invalid("scale-to-zero-after-zero",
            spec_with(autoscaling={**AUTOSCALED, "minReplicas": 0, "activation": {"scaleToZeroAfter": "0s"}}),
            "spec.autoscaling.activation.scaleToZeroAfter"),
    Invalid("activation-threshold-negative",
            spec_with(autoscaling={**AUTOSCALED, "minReplicas": 0, "activation": {"pendingThreshold": -1}}),
            "spec.autoscaling.activation.pendingThreshold"),
    Invalid("no-pipelines", spec_with(pipelines=[]), "spec.pipelines"),
    Invalid("unknown-pipeline", spec_with(pipelines=["text2video"]), "spec.pipelines"),
    Invalid("duplicate-pipelines", spec_with(pipelines=["text2image", "text2image"]), "spec.pipelines"),
    Invalid("in-process-with-photoshoot",
            spec_with(engine__executionMode="InProcess", pipelines=["photoshoot"],
                      model__segmentationSource="pvc://models/u2net"), "spec.engine.executionMode"),
    Invalid("unknown-execution-mode", spec_with(engine__executionMode="Fast"), "spec.engine.executionMode"),
    Invalid("photoshoot-without-segmenter", spec_with(pipelines=["photoshoot"]), "spec.model.segmentationSource"),
    Invalid("segmenter-from-s3", spec_with(pipelines=["photoshoot"], model__segmentationSource="s3://bucket/u2net"),
            "spec.model.segmentationSource"),
    Invalid("unknown-builtin-inpaint", spec_with(pipelines=["photoshoot"], model__segmentationSource="pvc://m/u2net",
                                                 model__inpaintSource="builtin://tiny-sdxl"),
            "spec.model.inpaintSource"),
    Invalid("api-on-without-keys", spec_with(api={"enabled": True}), "spec.api.auth"),
    Invalid("api-keys-secret-not-dns", spec_with(api={"enabled": True, "auth": {"secretRef": {"name": "API_KEYS"}}}),
            "spec.api.auth.secretRef.name"),
    Invalid("api-size-outside-the-engines", spec_with(api={"sizes": [{"width": 512, "height": 1024}]}),
            "spec.api.sizes"),
    Invalid("api-duplicate-sizes", spec_with(api={"sizes": [{"width": 1024, "height": 1024}] * 2}), "spec.api.sizes"),
    Invalid("api-max-steps-below-the-default-steps", spec_with(api={"maxSteps": 20}), "spec.api.maxSteps"),
    Invalid("api-max-images-17", spec_with(api={"maxImagesPerRequest": 17}), "spec.api.maxImagesPerRequest"),
    Invalid("api-rate-0", spec_with(api={"perKey": {"requestsPerMinute": 0}}), "spec.api.perKey.requestsPerMinute"),
    Invalid("api-unknown-field", spec_with(api={"keys": ["a"]}), "spec.api.keys", unknown=True),
    Invalid("unknown-engine-field", spec_with(engine__fp8=True), "spec.engine.fp8", unknown=True),
    Invalid("misspelt-replicas", spec_with(replica=2), "spec.replica", unknown=True),
    Invalid("unknown-gpu-field", spec_with(serving__gpu={"type": "nvidia-l4", "memory": "24Gi"}),
            "spec.serving.gpu.memory", unknown=True),
]
