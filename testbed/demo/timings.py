"""Figures read off pods: how long a Triton pod took from scheduled to serving, and the build pod's run.

Pure functions of the API's pod objects (kubernetes client models) and of log text, so they can be
checked without a cluster. Kubernetes timestamps have a resolution of one second; Triton's log has
microseconds, so the model-load figure comes from there.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from testbed.demo.report import BuildFigures, PodStartup

#: ``I1203 10:42:11.123456 1 http_server.cc:4713] Started HTTPService at 0.0.0.0:8000`` (glog's prefix).
_TRITON_LINE = re.compile(r"^[IWE]\d{4} (\d\d):(\d\d):(\d\d\.\d+) ")
_READY_MARK = "Started HTTPService"
#: ``progress stage=export pct=55 done in 6.2s`` (engine_builder's progress lines).
_BUILDER_STAGE = re.compile(r"progress stage=(\S+).* done in ([0-9.]+)s")


def _condition_time(pod: Any, type_: str) -> dt.datetime | None:
    for c in pod.status.conditions or []:
        if c.type == type_ and c.status == "True":
            return c.last_transition_time  # type: ignore[no-any-return]
    return None


def _span(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 1)


def _container_state(pod: Any) -> Any:
    statuses = pod.status.container_statuses or []
    return statuses[0].state if statuses else None


def is_ready(pod: Any) -> bool:
    return pod.metadata.deletion_timestamp is None and _condition_time(pod, "Ready") is not None


def triton_model_load_s(log: str) -> float | None:
    """Seconds from Triton's first log line to "Started HTTPService" (all models loaded), or None."""
    first: float | None = None
    for line in log.splitlines():
        match = _TRITON_LINE.match(line)
        if match is None:
            continue
        h, m, s = match.groups()
        at = int(h) * 3600 + int(m) * 60 + float(s)
        first = at if first is None else first
        if _READY_MARK in line:
            span = at - first
            return round(span, 1) if span >= 0 else None  # a run across midnight: no figure
    return None


def pod_startup(pod: Any, log: str = "") -> PodStartup:
    """Container start (PodScheduled -> startedAt), model load (Triton's log) and Ready (startedAt -> Ready)."""
    state = _container_state(pod)
    started = state.running.started_at if state is not None and state.running is not None else None
    return PodStartup(
        pod=pod.metadata.name, node=pod.spec.node_name or "",
        container_start_s=_span(_condition_time(pod, "PodScheduled"), started),
        model_load_s=triton_model_load_s(log),
        ready_s=_span(started, _condition_time(pod, "Ready")),
    )


def builder_stages(log: str) -> dict[str, float]:
    return {stage: float(took) for stage, took in _BUILDER_STAGE.findall(log)}


def build_figures(job: Any, pod: Any | None, log: str, message: dict[str, Any]) -> BuildFigures:
    """The build Job (start -> completion) and its pod (scheduled -> container start -> finish)."""
    figures = BuildFigures(job=job.metadata.name, job_s=_span(job.status.start_time, job.status.completion_time),
                           builder_stages=builder_stages(log), termination_message=message)
    if pod is not None:
        figures.node = pod.spec.node_name or ""
        state = _container_state(pod)
        terminated = state.terminated if state is not None else None
        if terminated is not None:
            figures.pod_start_s = _span(_condition_time(pod, "PodScheduled"), terminated.started_at)
            figures.builder_s = _span(terminated.started_at, terminated.finished_at)
    return figures
