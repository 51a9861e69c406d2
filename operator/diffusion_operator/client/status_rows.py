"""Rows of ``diffusion status``: the DiffusionService status reduced to what a person scans for.

Pure (dicts in, strings out) so the table is tested without a cluster. Only fields the operator
writes are shown; a field it has not written yet is ``-``, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

COLUMNS = ("NAMESPACE", "NAME", "PHASE", "ENGINE", "READY", "QUEUE/SLA", "AGE")


def age(created: str | None, now: datetime) -> str:
    """``kubectl``-style age: 45s, 12m, 3h, 2d."""
    if not created:
        return "-"
    seconds = max(0, int((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def engine_text(engine: Mapping[str, Any] | None) -> str:
    """``Succeeded sdxl-4abe…`` : the build state and which cache key it is for."""
    if not engine:
        return "-"
    state = engine.get("state") or "-"
    key = engine.get("cacheKey")
    return f"{state} {key}" if key else str(state)


def ready_text(status: Mapping[str, Any]) -> str:
    ready = status.get("readyReplicas")
    desired = status.get("desiredReplicas")
    if ready is None and desired is None:
        return "-"
    return f"{ready or 0}/{desired if desired is not None else '-'}"


def row(obj: Mapping[str, Any], now: datetime | None = None) -> tuple[str, ...]:
    """One table row for one DiffusionService object (as the API server returns it)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    spec_autoscaling = (obj.get("spec") or {}).get("autoscaling") or {}
    queue = status.get("queue")
    if queue is None and spec_autoscaling.get("enabled"):
        queue = f"-/{spec_autoscaling.get('queueLatencyTarget', '-')}"
    return (
        str(meta.get("namespace", "-")),
        str(meta.get("name", "-")),
        str(status.get("phase") or "Pending"),
        engine_text(status.get("engine")),
        ready_text(status),
        str(queue or "-"),
        age(meta.get("creationTimestamp"), now or datetime.now(UTC)),
    )


def conditions_lines(obj: Mapping[str, Any]) -> list[str]:
    """``Type=Status (Reason): message`` per condition, for the one-service view."""
    lines = []
    for c in (obj.get("status") or {}).get("conditions") or []:
        message = f": {c['message']}" if c.get("message") else ""
        lines.append(f"{c.get('type')}={c.get('status')} ({c.get('reason', '-')}){message}")
    return lines
