"""The API reference names every field of the CRD once, with its default, bounds and rules in words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from diffusion_operator.api import crd
from diffusion_operator.reference import api

PAGE = api.render_markdown()
SCHEMA = crd.openapi_schema()


def fields(node: dict[str, Any], path: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(object path, field name, field schema) for every property, at every depth."""
    for name, child in node.get("properties", {}).items():
        yield path, name, child
        yield from fields(child, f"{path}.{name}")
    if "items" in node:
        yield from fields(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from fields(node["additionalProperties"], f"{path}{{}}")


def section(path: str) -> str:
    """The text of the section whose heading is exactly ``path``."""
    match = re.search(rf"^#+ {re.escape(path)}\n(.*?)(?=^#+ |\Z)", PAGE, re.MULTILINE | re.DOTALL)
    assert match is not None, f"no section for {path}"
    return match.group(1)


def all_fields() -> list[tuple[str, str, dict[str, Any]]]:
    return [*fields(SCHEMA["properties"]["spec"], "spec"), *fields(SCHEMA["properties"]["status"], "status")]


def test_every_field_has_a_row_in_its_objects_section() -> None:
    for path, name, _ in all_fields():
        assert f"\n| `{name}`" in section(path), f"{path}.{name} is missing"


def test_every_cel_rule_appears_with_its_message() -> None:
    rules = re.findall(r"'message': '([^']*)'", str(SCHEMA))
    assert len(rules) > 20
    for message in rules:
        assert message.rstrip(".").replace("<", "&lt;").replace(">", "&gt;") in PAGE


def test_a_default_and_its_bounds_are_shown() -> None:
    row = next(line for line in section("spec.engine").splitlines() if line.startswith("| `maxBatchSize`"))
    assert "`4`" in row and "≥ 1" in row and "≤ 16" in row


def test_an_object_field_links_to_its_own_section() -> None:
    assert "[object](#specautoscalingscaledown)" in section("spec.autoscaling")


def test_pipes_in_patterns_are_escaped_so_the_table_keeps_its_columns() -> None:
    for line in PAGE.splitlines():
        if line.startswith("| `"):
            assert len(re.split(r"(?<!\\)\|", line)) == 7, line
