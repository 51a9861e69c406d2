"""An OOMKilled build is reported as such, with the memory limit it had and what to change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from diffusion_operator.api.conditions import ConditionType, Reason
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import Endpoints
from diffusion_operator.reconcile.decide import decide
from diffusion_operator.reconcile.observation import (
    DeploymentState,
    JobState,
    Observation,
    OomKill,
    job_state,
    oom_killed,
)

from tests.unit.reconcile.builds import build_for

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = "sdxl-new"
FAILED = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit"}]}}


def pod(name: str, reason: str, finished: str, limit: str | None = "16487Mi",
        message: str = "Traceback ... torch.onnx.export") -> dict[str, Any]:
    resources = {"limits": {"memory": limit, "nvidia.com/gpu": "1"}} if limit else {"limits": {"nvidia.com/gpu": "1"}}
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "builder", "resources": resources}]},
        "status": {"containerStatuses": [{"name": "builder", "state": {"terminated": {
            "reason": reason, "exitCode": 137 if reason == "OOMKilled" else 1, "finishedAt": finished,
            "message": message}}}]},
    }


@pytest.mark.parametrize(("pods", "expected"), [
    ([pod("b-1", "OOMKilled", "2026-11-25T10:00:00Z")], OomKill("b-1", "16487Mi")),
    ([pod("b-1", "OOMKilled", "2026-11-25T10:00:00Z", limit=None)], OomKill("b-1", None)),
    ([pod("b-1", "Error", "2026-11-25T10:00:00Z")], None),
    # The newest try decides: an OOM before a later failure of another kind is not the story...
    ([pod("b-1", "OOMKilled", "2026-11-25T10:00:00Z"), pod("b-2", "Error", "2026-11-25T10:30:00Z")], None),
    # ...and an OOM after an earlier failure is.
    ([pod("b-1", "Error", "2026-11-25T10:00:00Z"), pod("b-2", "OOMKilled", "2026-11-25T10:30:00Z", "20Gi")],
     OomKill("b-2", "20Gi")),
    ([], None),
])
def test_the_newest_terminated_build_container_tells_whether_it_was_oom_killed(
        pods: list[dict[str, Any]], expected: OomKill | None) -> None:
    assert oom_killed(pods) == expected


def test_a_failed_job_carries_the_oom_kill_of_its_pod() -> None:
    state = job_state("engine-k", FAILED, [pod("b-1", "OOMKilled", "2026-11-25T10:00:00Z")])
    assert (state.phase, state.oom_killed) == ("Failed", OomKill("b-1", "16487Mi"))


def run(job: JobState):
    svc = DiffusionService.model_validate({"metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 1},
                                           "spec": {"model": {"source": "hf://stabilityai/sdxl@abc"}}})
    obs = Observation(desired_job=job, serving_job=None, deployment=DeploymentState(name="s", exists=False))
    return decide(svc, obs, cache_key=KEY, selector="a=b", endpoints=Endpoints(), now=NOW, build=build_for(svc.spec))


def engine_ready(decision) -> tuple[str, str, str]:
    cond = next(c for c in decision.status.conditions if c.type == ConditionType.ENGINE_READY)
    return cond.status, cond.reason, cond.message


def test_an_oom_killed_build_is_build_oom_killed_naming_the_limit_and_the_setting() -> None:
    # The sdxl build's figure (10.1 GiB) is below the 16.1 GiB the pod had: nothing to retry yet.
    decision = run(JobState(f"engine-{KEY}", "Failed", reason="PodFailurePolicy",
                            message="Traceback ... torch.onnx.export", oom_killed=OomKill("b-1", "16487Mi")))
    status, reason, message = engine_ready(decision)
    assert (status, reason) == ("False", Reason.BUILD_OOM_KILLED)
    assert "build pod b-1 was OOMKilled at its memory limit of 16.1 GiB (16487Mi)" in message
    assert "raise spec.engine.buildResources" in message and "delete" not in message  # no hand work left
    assert decision.status.phase == "Failed"
    assert ("Warning", Reason.BUILD_OOM_KILLED) in [(e.type, e.reason) for e in decision.events]


def test_a_build_oom_killed_with_no_limit_is_built_again_with_one() -> None:
    """The node ran out (a Job from before the limits): the limit a build gets now counts as raised."""
    decision = run(JobState(f"engine-{KEY}", "Failed", reason="BackoffLimitExceeded",
                            oom_killed=OomKill("b-1", None)))
    status, reason, message = engine_ready(decision)
    assert (status, reason) == ("False", Reason.BUILD_RETRIED)
    assert "build pod b-1 was OOMKilled with no memory limit: its node ran out of memory" in message
    assert decision.oom_retry is not None


def test_a_deadline_is_still_a_timeout_even_if_a_try_was_oom_killed_before() -> None:
    decision = run(JobState(f"engine-{KEY}", "Failed", reason="DeadlineExceeded", oom_killed=OomKill("b", "1Gi")))
    assert engine_ready(decision)[1] == Reason.BUILD_TIMED_OUT


def test_a_build_retrying_after_an_oom_kill_is_building_and_says_so() -> None:
    status, reason, message = engine_ready(run(JobState(f"engine-{KEY}", "Running", oom_killed=OomKill("b-1", "2Gi"))))
    assert (status, reason) == ("False", Reason.BUILDING)
    assert message.endswith("again: the last try's build pod b-1 was OOMKilled at its memory limit of 2.0 GiB (2Gi)")
