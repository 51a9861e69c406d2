"""What every spec model shares: the wire conventions and the Kubernetes string formats.

Models are camelCase on the wire (``by_alias``), snake_case in Python, immutable, and refuse unknown
fields like the CRD's strict validation does.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
#: Kubernetes' quantity syntax without a sign: no resource amount here can be negative.
QUANTITY_PATTERN = (
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
#: Longer quantities are typos, and the bound keeps the cost of CEL rules over them small.
QUANTITY_MAX_LENGTH = 64
#: A container image reference; whitespace is never part of one (the Pod API rejects it at the ends).
IMAGE_PATTERN = r"^\S+$"


def _check_quantity(value: int | str) -> int | str:
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{value} is negative; a quantity is 0 or more")
    if isinstance(value, str) and (len(value) > QUANTITY_MAX_LENGTH or not re.fullmatch(QUANTITY_PATTERN, value)):
        raise ValueError(f"{value!r} is not a quantity like 4, 500m or 32Gi")
    return value


Quantity = Annotated[
    int | str,
    AfterValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "minimum": 0,
            "maxLength": QUANTITY_MAX_LENGTH,
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]


class ApiModel(BaseModel):
    """camelCase on the wire, immutable in Python, unknown fields refused (like the CRD's pruning)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class StatusModel(BaseModel):
    """Status parts: camelCase, immutable, unknown fields ignored (an older operator reads a newer status)."""

    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True)
