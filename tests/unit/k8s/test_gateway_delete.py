"""Deletion at the edge: in the background, and conditional on a uid when one is given."""

from __future__ import annotations

from typing import Any

import pytest
from diffusion_operator.k8s import gateway as gateway_module
from diffusion_operator.k8s.gateway import KubeGateway
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError


class Jobs:
    """The dynamic client's Job resource: records each delete, or answers with ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.deleted: list[dict[str, Any]] = []

    def delete(self, **kwargs: Any) -> None:
        if self.error is not None:
            raise self.error
        self.deleted.append(kwargs)


def gateway_with(jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> KubeGateway:
    monkeypatch.setattr(gateway_module, "DynamicClient", lambda *_, **__: None)  # no discovery
    gateway = KubeGateway(client.ApiClient())
    gateway._resources[("batch/v1", "Job")] = jobs
    return gateway


def test_a_delete_with_a_uid_is_conditional_on_it_and_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = Jobs()
    gateway_with(jobs, monkeypatch).delete("batch/v1", "Job", "engine-k", "n", uid="job-uid-1")
    gateway_with(jobs, monkeypatch).delete("batch/v1", "Job", "engine-k", "n")
    assert [call["body"] for call in jobs.deleted] == [
        {"propagationPolicy": "Background", "preconditions": {"uid": "job-uid-1"}},
        {"propagationPolicy": "Background"},
    ]


def test_a_failed_precondition_is_a_409_and_a_missing_object_is_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    conflict = Jobs(ConflictError(ApiException(status=409, reason="Conflict")))
    with pytest.raises(gateway_module.KubeError) as refused:
        gateway_with(conflict, monkeypatch).delete("batch/v1", "Job", "engine-k", "n", uid="job-uid-1")
    assert refused.value.status == 409
    gateway_with(Jobs(NotFoundError(ApiException(status=404, reason="Not Found"))), monkeypatch).delete(
        "batch/v1", "Job", "engine-k", "n", uid="job-uid-1")
