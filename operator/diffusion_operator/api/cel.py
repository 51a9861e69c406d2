"""CEL rules (``x-kubernetes-validations``) declared next to the pydantic fields they guard.

A rule is plain data attached through ``json_schema_extra``; the CRD generator copies it verbatim,
so the schema a user sees and the rule the API server runs come from the same line of Python.
"""

from __future__ import annotations

from typing import Any, Literal

from diffusion_operator.api.durations import GO_DURATION_PATTERN

#: The reasons the API server accepts on a rule (they become the 422 cause type).
Reason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]


def rule(
    expression: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: Reason | None = None,
) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry; ``field_path`` makes the error name the culprit field."""
    entry = {"rule": expression, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """The ``json_schema_extra`` that attaches ``rules`` to a field or a model."""
    return {"x-kubernetes-validations": list(rules)}


def positive_duration(what: str) -> dict[str, str]:
    """A duration string above zero; skipped when the pattern already failed, so users see one error.

    The pattern is a CEL raw string (``r'...'``): CEL rejects ``\\.`` in an ordinary string literal.
    """
    return rule(
        f"!self.matches(r'{GO_DURATION_PATTERN}') || duration(self) > duration('0s')",
        f"{what} must be a duration above zero, like 500ms, 30s or 2h",
    )


def cel_string_list(values: list[str]) -> str:
    """``['a', 'b']`` as a CEL list literal."""
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"
