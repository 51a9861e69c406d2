"""The committed CRD is exactly what the models generate, and it is a CRD the API server will take."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from diffusion_operator.api import crd
from diffusion_operator.api.gpus import GPU_CATALOGUE, fp8_capable_types
from diffusion_operator.api.schema import fields_without_description

VERSION = crd.custom_resource_definition()["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]
SPEC = SCHEMA["properties"]["spec"]


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_every_field_has_a_description() -> None:
    assert fields_without_description(SPEC) == []
    assert fields_without_description(SCHEMA["properties"]["status"]) == []


def test_schema_is_structural() -> None:
    for path, node in walk(SCHEMA):
        assert "$ref" not in node and "allOf" not in node and "title" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "default" not in node or node["default"] is not None, path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, path
        else:
            assert "type" in node, path


def test_cel_cost_is_bounded_strings_lists_and_maps_have_limits() -> None:
    for path, node in walk(SPEC):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node, path
        if node.get("type") == "array":
            assert "maxItems" in node, path
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
            assert "maxProperties" in node, path


def test_identity_scope_and_short_name() -> None:
    body = crd.custom_resource_definition()
    assert body["metadata"]["name"] == "diffusionservices.diffusion.dev"
    assert body["spec"]["scope"] == "Namespaced"
    assert body["spec"]["names"]["shortNames"] == ["dfs"]
    assert VERSION["name"] == "v1alpha1" and VERSION["served"] and VERSION["storage"]


def test_status_and_scale_subresources() -> None:
    assert VERSION["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_printer_columns() -> None:
    columns = {c["name"]: c for c in VERSION["additionalPrinterColumns"]}
    assert [c["name"] for c in VERSION["additionalPrinterColumns"] if c.get("priority", 0) == 0] == [
        "Phase", "Ready", "Queue", "GPU", "Age"
    ]
    assert columns["GPU"]["jsonPath"] == ".spec.serving.gpu.type"
    assert columns["Age"]["type"] == "date"


def test_gpu_enum_and_fp8_rule_come_from_the_catalogue() -> None:
    gpu = SPEC["properties"]["serving"]["properties"]["gpu"]["properties"]["type"]
    assert gpu["enum"] == list(GPU_CATALOGUE)
    (fp8_rule,) = [r for r in SPEC["x-kubernetes-validations"] if r["fieldPath"] == ".engine.precision"]
    assert all(f"'{name}'" in fp8_rule["rule"] for name in fp8_capable_types())
    assert "'nvidia-a10g'" not in fp8_rule["rule"]
    assert fp8_capable_types() == ["nvidia-l4", "nvidia-l40s", "nvidia-h100-80gb"]


def test_objects_default_to_empty_so_nested_defaults_apply() -> None:
    for name in ("engine", "serving", "pipeline", "autoscaling"):
        assert SPEC["properties"][name]["default"] == {}, name
    assert SPEC["required"] == ["model"]


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    conditions = SCHEMA["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_the_yaml_text_parses_to_the_same_object_and_says_it_is_generated() -> None:
    text = crd.render_yaml()
    assert text.startswith(crd.HEADER) and text == crd.render_yaml()
    assert yaml.safe_load(text) == crd.custom_resource_definition()
