"""Pod created -> Ready, read from the pod objects the API server returns (the cold start's evidence)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from diffusion_operator.autoscaling.cold_start import PodStart


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def pod_starts(pods: Iterable[dict[str, Any]]) -> list[PodStart]:
    """One sample per Ready pod: its Ready condition's transition time minus its creation time.

    Pods being deleted are skipped (their readiness says nothing about starting); a pod without a Ready
    condition that is True has not finished starting.
    """
    starts = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        created = _time(meta.get("creationTimestamp"))
        ready = next((c for c in (pod.get("status") or {}).get("conditions") or []
                      if c.get("type") == "Ready" and c.get("status") == "True"), None)
        became_ready = _time((ready or {}).get("lastTransitionTime"))
        if created is None or became_ready is None or not meta.get("name"):
            continue
        starts.append(PodStart(str(meta["name"]), (became_ready - created).total_seconds()))
    return starts
