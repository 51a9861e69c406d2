"""Kubernetes label keys and values as the spec accepts them: exactly what a Pod or NetworkPolicy accepts.

Whatever the CRD lets through ends up in a child (a nodeSelector, a toleration, a NetworkPolicy
selector); if the child's own validation refused it, the operator's apply would fail on every
reconcile with no way for the user to see why at ``kubectl apply`` time. So every label-shaped
field is checked at admission with the same rules the API server applies to the child.

Map keys cannot carry an OpenAPI ``pattern``, so keys are checked by a CEL rule; the ``size()``
guard comes first so that the API server's cost estimate of ``matches`` stays bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import Field

from diffusion_operator.api import cel

#: A label name: 63 characters at most, alphanumeric at both ends, ``-_.`` inside.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
#: An optional DNS-subdomain prefix and a slash: ``example.com/``.
_PREFIX = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
LABEL_KEY_PATTERN = f"^{_PREFIX}{_NAME}$"
#: Empty, or a label name.
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
#: A 253-character prefix, the slash and a 63-character name.
LABEL_KEY_MAX_LENGTH = 317
LABEL_VALUE_MAX_LENGTH = 63
_PREFIX_MAX_LENGTH = 253

LabelKey = Annotated[str, Field(min_length=1, max_length=LABEL_KEY_MAX_LENGTH, pattern=LABEL_KEY_PATTERN)]
LabelValue = Annotated[str, Field(max_length=LABEL_VALUE_MAX_LENGTH, pattern=LABEL_VALUE_PATTERN)]


def is_label_key(key: str) -> bool:
    """Whether ``key`` is a valid label key (``[prefix/]name``, the prefix a DNS subdomain <= 253)."""
    if len(key) > LABEL_KEY_MAX_LENGTH or not re.fullmatch(LABEL_KEY_PATTERN, key):
        return False
    return "/" not in key or key.index("/") <= _PREFIX_MAX_LENGTH


def check_label_keys(keys: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming the first invalid key (the pydantic mirror of ``label_keys_rule``)."""
    for key in keys:
        if not is_label_key(key):
            raise ValueError(f"{what}: {key!r} is not a valid label key")


def label_keys_rule(what: str) -> dict[str, str]:
    """The CEL rule that every key of a map field is a label key."""
    return cel.rule(
        f"self.all(k, size(k) <= {LABEL_KEY_MAX_LENGTH} && k.matches(r'{LABEL_KEY_PATTERN}')"
        f" && (!k.contains('/') || k.indexOf('/') <= {_PREFIX_MAX_LENGTH}))",
        f"{what} keys must be label keys: [prefix/]name, the name 63 characters at most, alphanumeric at both ends",
    )
