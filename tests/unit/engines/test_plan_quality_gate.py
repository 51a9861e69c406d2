"""The quality gate rides in the plan outside the cache key; the CRD carries its bounds and rule."""

from __future__ import annotations

import hashlib
import json

from diffusion_operator.api.crd import custom_resource_definition
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.engines.plan import plan_for


def spec(**engine: object) -> DiffusionServiceSpec:
    return DiffusionServiceSpec.model_validate({
        "model": {"source": "builtin://tiny-sdxl"}, "engine": engine,
        "pipeline": {"steps": 30, "guidanceScale": 6.0},
        "autoscaling": {"enabled": True, "maxReplicas": 4, "queueLatencyTarget": "500ms",
                        "overload": {"enabled": True, "minSteps": 20}},
    })


def test_the_plan_carries_the_thresholds_the_pipeline_and_the_curve_down_to_the_tier_floor():
    gate = plan_for(spec(qualityGate={"minSsim": 0.9, "onUnavailable": "Publish"}), "10.8.0").quality_gate
    assert (gate.min_ssim, gate.on_unavailable, gate.min_psnr_db) == (0.9, "Publish", 30.0)
    assert (gate.steps, gate.guidance_scale, gate.scheduler) == (30, 6.0, "euler")
    assert gate.step_counts == (30, 27, 23, 20, 10, 5)
    assert gate.prompts is None


def test_gate_settings_never_change_the_cache_key_but_quantized_components_do():
    base = plan_for(spec(precision="int8"), "10.8.0")
    stricter = plan_for(spec(precision="int8", qualityGate={"minSsim": 0.99, "enabled": False}), "10.8.0")
    aggressive = plan_for(spec(precision="int8", quantizedComponents=["vae", "unetxl"]), "10.8.0")
    assert stricter.cache_key() == base.cache_key()
    assert aggressive.cache_key() != base.cache_key()
    assert aggressive.quantized_components == ("unetxl", "vae")


def test_the_default_recipe_keeps_existing_cache_keys():
    plan = plan_for(spec(), "10.8.0")
    material = plan.model_dump(mode="json", exclude={"credentials", "gpu_type", "quality_gate",
                                                     "quantized_components", "pipelines", "inpaint_source",
                                                     "segmentation_source", "execution_mode"})
    assert plan.cache_key() == "sdxl-" + hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def test_the_crd_bounds_the_gate_and_rejects_duplicate_prompts_at_the_field():
    schema = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    gate = schema["properties"]["spec"]["properties"]["engine"]["properties"]["qualityGate"]
    fields = gate["properties"]
    assert (fields["minSsim"]["minimum"], fields["minSsim"]["maximum"], fields["minSsim"]["default"]) == (0, 1, 0.95)
    assert fields["maxClipDropPercent"]["default"] == 0.2
    assert fields["onUnavailable"]["enum"] == ["Block", "Publish"] and fields["onUnavailable"]["default"] == "Block"
    assert fields["prompts"]["minItems"] == 1 and fields["prompts"]["maxItems"] == 16
    rules = fields["prompts"]["x-kubernetes-validations"]
    assert rules[0]["reason"] == "FieldValueDuplicate" and "unique" in rules[0]["message"]
    assert fields["clipSource"]["pattern"].startswith("^pvc://")
