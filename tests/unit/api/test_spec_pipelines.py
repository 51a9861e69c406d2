"""``spec.pipelines`` in the generated CRD: an enum set, non-empty, defaulted to text2image."""

from __future__ import annotations

from typing import Any

from diffusion_operator.api.crd import custom_resource_definition


def spec_schema() -> dict[str, Any]:
    (version,) = custom_resource_definition()["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def test_pipelines_is_a_non_empty_set_of_known_pipelines_defaulting_to_text2image() -> None:
    pipelines = spec_schema()["properties"]["pipelines"]
    assert pipelines["items"]["enum"] == ["text2image", "photoshoot"]
    assert pipelines["x-kubernetes-list-type"] == "set"  # the API server refuses duplicates
    assert (pipelines["minItems"], pipelines["maxItems"]) == (1, 2)
    assert pipelines["default"] == ["text2image"]


def test_the_photoshoot_rule_requires_a_segmenter_for_real_models_and_names_the_field() -> None:
    rules = spec_schema()["x-kubernetes-validations"]
    (rule,) = [r for r in rules if "segmentationSource" in r["rule"]]
    assert rule["fieldPath"] == ".model.segmentationSource"
    assert rule["reason"] == "FieldValueRequired"
    assert "startsWith('builtin://')" in rule["rule"]


def test_the_photoshoot_sources_have_patterns_and_bounds() -> None:
    model = spec_schema()["properties"]["model"]["properties"]
    for name in ("inpaintSource", "segmentationSource"):
        assert model[name]["maxLength"] == 1024
        assert model[name]["pattern"].startswith("^(hf://")
