"""Durations as users write them in Kubernetes objects: Go's ``time.ParseDuration`` syntax.

The CRD stores durations as strings (``30s``, ``2h``, ``1m30s``, ``500ms``) because that is what
people already write in Kubernetes specs; the same pattern guards the schema at admission and the
parser below turns a validated string into a ``timedelta`` for the operator. Signs and the bare
``0`` that Go also accepts are left out on purpose: no field here has a use for them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import Field

#: Go duration units we accept; ``µs`` is left out so the CRD YAML stays ASCII.
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

#: One or more ``<number><unit>`` groups, as ``time.ParseDuration`` reads them (``1h30m``, ``1.5s``).
GO_DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"

#: Long enough for any sensible duration, short enough to keep CEL's cost estimate small.
DURATION_MAX_LENGTH = 32

_GROUP = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")

Duration = Annotated[
    str,
    Field(pattern=GO_DURATION_PATTERN, max_length=DURATION_MAX_LENGTH),
]


def parse_duration(text: str) -> timedelta:
    """``"1m30s"`` -> ``timedelta(seconds=90)``; raises ``ValueError`` on anything else."""
    if not re.fullmatch(GO_DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration like 30s, 2h or 500ms")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _GROUP.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """A short Go-style rendering for status and printer columns: ``1.2s``, ``350ms``, ``2m5s``."""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{rest}s" if rest else "")
    return text or "0s"

