"""Turn a pydantic JSON Schema into a Kubernetes *structural* OpenAPI v3 schema.

pydantic speaks JSON Schema 2020-12; the API server wants a structural subset of OpenAPI v3: no
``$ref``, no ``anyOf`` for optional fields, no ``additionalProperties: false`` next to
``properties`` (pruning does that job), no ``null`` defaults, boolean ``exclusiveMinimum``. This
module does only that translation; everything the schema *says* is declared on the models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

#: Keys pydantic emits that carry no meaning for the API server.
_DROPPED_KEYS = frozenset({"title", "$defs"})
_NULL = {"type": "null"}
_VALIDATIONS = "x-kubernetes-validations"
_KEY_ORDER = ("type", "description", "default", "enum", "format", "example")

Schema = dict[str, Any]


def structural_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of ``model``'s wire form (camelCase aliases, validation mode)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}))


def _convert(node: Schema, defs: dict[str, Schema]) -> Schema:
    node = dict(node)
    target = _unwrap(node)
    if target is not None:
        # A reference or Optional[...]: the referenced schema, with the field's own keys on top.
        resolved = _convert(_resolve(target, defs), defs)
        return _ordered(_merge(resolved, _convert_keywords(node, defs)))
    return _ordered(_convert_keywords(node, defs))


def _unwrap(node: Schema) -> Schema | None:
    """The single schema behind ``$ref``, ``allOf: [x]`` or ``anyOf: [x, null]``, popped from node."""
    if "$ref" in node:
        return {"$ref": node.pop("$ref")}
    if "allOf" in node and len(node["allOf"]) == 1:
        return dict(node.pop("allOf")[0])
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        options = [option for option in node["anyOf"] if option != _NULL]
        if len(options) == 1:
            node.pop("anyOf")
            return dict(options[0])
        raise ValueError(f"unions other than Optional are not structural: {node['anyOf']}")
    return None


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    ref = node.get("$ref")
    if ref is None:
        return node
    return dict(defs[ref.removeprefix("#/$defs/")])


def _convert_keywords(node: Schema, defs: dict[str, Schema]) -> Schema:
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "properties":
            out[key] = {name: _convert(child, defs) for name, child in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _convert(value, defs)
        elif key == "additionalProperties":
            continue  # ``false``: the API server prunes unknown fields, and strict clients get errors
        elif key == "const":
            out["enum"] = [value]
        elif key == "description":
            out[key] = value.replace("``", "")  # docstrings are reStructuredText; kubectl explain is not
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        else:
            out[key] = value
    return out


def _ordered(node: Schema) -> Schema:
    """Keys in the order people read a CRD: what it is, what it means, its bounds, then children."""
    rank = {key: index for index, key in enumerate(_KEY_ORDER)}
    return dict(sorted(node.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _merge(base: Schema, overlay: Schema) -> Schema:
    """``overlay`` wins, except that CEL rules from both the model and the field are kept."""
    merged = {**base, **overlay}
    if _VALIDATIONS in base and _VALIDATIONS in overlay:
        merged[_VALIDATIONS] = [*base[_VALIDATIONS], *overlay[_VALIDATIONS]]
    return merged


def fields_without_description(schema: Schema, path: str = "") -> list[str]:
    """Every property path lacking a description (the CRD promises one on each field)."""
    missing = []
    for name, child in schema.get("properties", {}).items():
        child_path = f"{path}.{name}"
        if not child.get("description"):
            missing.append(child_path)
        missing += fields_without_description(child, child_path)
    if "items" in schema:
        missing += fields_without_description(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        missing += fields_without_description(schema["additionalProperties"], f"{path}{{}}")
    return missing
