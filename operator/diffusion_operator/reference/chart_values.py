"""The chart's values reference, from ``values.yaml``'s comments and ``values.schema.json``'s bounds.

``values.yaml`` documents each key the way helm-docs reads it (a ``# --`` comment block right above
the key), so helm-docs would find the same descriptions. helm-docs itself is not used: it never reads
``values.schema.json``, where the types, enums and bounds live, and it would be one more Go binary to
build for ``make test``. The page lists every documented key (an object documented as a whole is one
row, its default shown as JSON) and fails when a value has no description anywhere on its path, so an
undocumented value cannot ship.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from diffusion_operator.reference.markdown import code, table, text

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):")
_DOC_START = "# --"


@dataclass(frozen=True)
class DocumentedValue:
    """One row: a dotted key, its description, default and schema."""

    key: str
    description: str
    default: Any
    schema: dict[str, Any]


class UndocumentedValueError(ValueError):
    """A value in values.yaml that has no ``# --`` description on itself or a parent."""


def render_markdown(values_yaml: str, schema: dict[str, Any], *, header: str) -> str:
    """The values table under ``header`` (the caller's title and introduction)."""
    rows = [
        [code(value.key), _type(value.schema), code(_json(value.default)), _bounds(value.schema),
         text(value.description)]
        for value in documented_values(values_yaml, schema)
    ]
    return header + "\n".join(table(["Key", "Type", "Default", "Bounds", "Description"], rows)) + "\n"


def documented_values(values_yaml: str, schema: dict[str, Any]) -> list[DocumentedValue]:
    """Every key with a ``# --`` comment, in file order; raises on a leaf documented nowhere."""
    defaults = yaml.safe_load(values_yaml)
    descriptions = _descriptions(values_yaml)
    _check_documented(defaults, descriptions, [])
    return [
        DocumentedValue(key, text, _lookup(defaults, key), _schema_at(schema, key))
        for key, text in descriptions.items()
    ]


def _descriptions(values_yaml: str) -> dict[str, str]:
    """Dotted key -> its ``# --`` block (continuation lines are the ``#`` lines that follow)."""
    found: dict[str, str] = {}
    path: list[tuple[int, str]] = []
    block: list[str] | None = None
    for line in values_yaml.splitlines():
        stripped = line.strip()
        if stripped.startswith(_DOC_START):
            block = [stripped.removeprefix(_DOC_START).strip()]
        elif stripped.startswith("#"):
            if block is not None:
                block.append(stripped.removeprefix("#").strip())
        elif (match := _KEY.match(line)) is not None:
            indent = len(match["indent"])
            path = [(depth, key) for depth, key in path if depth < indent] + [(indent, match["key"])]
            if block is not None:
                found[".".join(key for _, key in path)] = " ".join(part for part in block if part)
            block = None
        elif not stripped:
            continue  # a blank line keeps the block: helm-docs allows one between comment and key
        else:
            block = None
    return found


def _check_documented(value: Any, descriptions: dict[str, str], path: list[str]) -> None:
    key = ".".join(path)
    if path and key in descriptions:
        return
    if isinstance(value, dict) and value:
        for name, child in value.items():
            _check_documented(child, descriptions, [*path, str(name)])
    elif path:
        raise UndocumentedValueError(f"values.yaml: {key} has no '# --' description (on itself or a parent)")


def _lookup(values: Any, key: str) -> Any:
    for part in key.split("."):
        values = values[part]
    return values


def _schema_at(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """The schema of a dotted key, ``$ref``s into ``definitions`` resolved; {} where the schema is silent."""
    node = schema
    for part in key.split("."):
        node = _resolve(schema, node).get("properties", {}).get(part, {})
    return _resolve(schema, node)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: dict[str, Any] = schema
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(schema, target), **{k: v for k, v in node.items() if k != "$ref"}}


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return "one of " + ", ".join(code(_json(value)) for value in node["enum"])
    kind = node.get("type", "")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array" and "type" in node.get("items", {}):
        return f"list of {node['items']['type']}"
    return str(kind)


_BOUNDS = (("minimum", "≥ {}"), ("exclusiveMinimum", "> {}"), ("maximum", "≤ {}"),
           ("minLength", "length ≥ {}"), ("maxLength", "length ≤ {}"))


def _bounds(node: dict[str, Any]) -> str:
    parts = [template.format(node[key]) for key, template in _BOUNDS if key in node]
    if "pattern" in node:
        parts.append("pattern " + code(node["pattern"]))
    items = node.get("items", {})
    if "pattern" in items:
        parts.append("each matches " + code(items["pattern"]))
    if node.get("uniqueItems"):
        parts.append("unique items")
    if node.get("additionalProperties") is False:
        parts.append("no other keys")
    return "; ".join(parts)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
