"""An OOMKilled build is built again once a build gets more memory than the killed pod had, and only then."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from diffusion_operator.api.conditions import ConditionType, Reason
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.spec_serving import ResourceRequirements
from diffusion_operator.api.status import Endpoints
from diffusion_operator.engines.build_resources import BuildResources
from diffusion_operator.reconcile.decide import decide
from diffusion_operator.reconcile.observation import DeploymentState, JobState, Observation, OomKill
from diffusion_operator.reconcile.oom_retry import OomRetry, oom_message, oom_retry

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = "sdxl-new"
JOB = f"engine-{KEY}"


def limited(memory: str) -> BuildResources:
    """What a build gets now: the memory limit as the Job would render it."""
    return BuildResources(ResourceRequirements(requests={"memory": memory}, limits={"memory": memory}),
                          memory_request_bytes=0, memory_source="spec.engine.buildResources.limits.memory")


def oom_failed(limit: str | None = "16Gi", reason: str = "PodFailurePolicy") -> JobState:
    return JobState(JOB, "Failed", reason=reason, oom_killed=OomKill("b-1", limit), uid="job-uid-1")


@pytest.mark.parametrize(("job", "now", "retried"), [
    # A raise: the same build gets a new try with the new limit.
    (oom_failed("16Gi"), "24Gi", True),
    (oom_failed("16487Mi"), "17Gi", True),  # compared as quantities, not as text
    # The same limit, or less, would be killed the same way: the Job stays failed.
    (oom_failed("16Gi"), "16Gi", False),
    (oom_failed("16Gi"), "16384Mi", False),  # the same amount, spelt otherwise
    (oom_failed("16Gi"), "12Gi", False),
    # No limit: the node ran out; a bounded build (reserved, killed alone) is worth one new try.
    (oom_failed(None), "16Gi", True),
    # A limit that cannot be read is never taken for a raise.
    (oom_failed("lots"), "16Gi", False),
    # A failure that is not an OOM kill: more memory is not its remedy.
    (JobState(JOB, "Failed", reason="BackoffLimitExceeded", message="source unreachable"), "64Gi", False),
    (JobState(JOB, "Failed", reason="PodFailurePolicy"), "64Gi", False),  # exit 137 from a pod deleted by hand
    # Past its deadline it is a timeout, whatever a try before it met.
    (oom_failed("16Gi", reason="DeadlineExceeded"), "64Gi", False),
    # A build that succeeded, runs, waits or does not exist yet has nothing to retry.
    (JobState(JOB, "Succeeded"), "64Gi", False),
    (JobState(JOB, "Running", oom_killed=OomKill("b-1", "16Gi")), "64Gi", False),  # the Job's own retry
    (JobState(JOB, "Pending"), "64Gi", False),
    (JobState(JOB, "Missing"), "64Gi", False),
])
def test_a_failed_oom_killed_build_is_retried_only_when_a_build_now_gets_more_memory(
        job: JobState, now: str, retried: bool) -> None:
    assert (oom_retry(job, limited(now)) is not None) is retried


def test_the_retry_names_the_job_its_uid_and_both_limits() -> None:
    retry = oom_retry(oom_failed("16487Mi"), limited("24Gi"))
    assert retry == OomRetry(JOB, "job-uid-1", OomKill("b-1", "16487Mi"), "24Gi")
    assert retry.message == (f"Job {JOB}: build pod b-1 was OOMKilled at its memory limit of 16.1 GiB (16487Mi); "
                             "a build now gets a memory limit of 24.0 GiB (24Gi), so the operator deleted the Job "
                             "to build again")


def test_the_oom_message_asks_only_for_more_memory_not_for_deleting_the_job() -> None:
    message = oom_message(JOB, OomKill("b-1", "16Gi"))
    assert "raise spec.engine.buildResources" in message and "the operator builds again" in message
    assert "delete" not in message


def service(build_memory: str = "24Gi") -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 2},
        "spec": {"model": {"source": "builtin://tiny-sdxl"},
                 "engine": {"buildResources": {"limits": {"memory": build_memory}}}},
    })


def run(job: JobState, build_memory: str, deployment: DeploymentState | None = None):
    obs = Observation(desired_job=job, serving_job=None,
                      deployment=deployment or DeploymentState(name="s", exists=False))
    return decide(service(build_memory), obs, cache_key=KEY, selector="a=b", endpoints=Endpoints(), now=NOW,
                  build=limited(build_memory))


def conditions(decision) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in decision.status.conditions}


def test_a_raised_limit_deletes_the_failed_job_reports_the_build_to_come_and_says_so_in_an_event() -> None:
    decision = run(oom_failed("16Gi"), "24Gi")
    assert decision.oom_retry is not None and decision.oom_retry.job_uid == "job-uid-1"
    assert not decision.build_engine  # the next reconcile creates it, once the old Job is gone
    assert not decision.adopt_build
    status, reason, message = conditions(decision)[ConditionType.ENGINE_READY]
    assert (status, reason) == ("False", Reason.BUILD_RETRIED)
    assert "16.0 GiB (16Gi)" in message and "24.0 GiB (24Gi)" in message
    assert conditions(decision)[ConditionType.PROGRESSING][:2] == ("True", Reason.BUILDING)
    assert decision.status.phase == "Building"
    assert decision.status.engine is not None and decision.status.engine.state == "Pending"
    assert [(e.type, e.reason) for e in decision.events if e.reason == Reason.BUILD_RETRIED] == [
        ("Normal", Reason.BUILD_RETRIED)]


def test_a_retry_while_an_old_engine_serves_is_a_new_build_not_a_degraded_service() -> None:
    old = DeploymentState(name="s", exists=True, serving_key="sdxl-old", spec_replicas=1, replicas=1,
                          ready_replicas=1, updated_replicas=1, available=True, rollout_complete=True)
    found = conditions(run(oom_failed("16Gi"), "24Gi", old))
    assert found[ConditionType.DEGRADED][:2] == ("False", Reason.SERVING)
    assert found[ConditionType.PROGRESSING][:2] == ("True", Reason.NEW_ENGINE_BUILDING)


@pytest.mark.parametrize("build_memory", ["16Gi", "8Gi"])
def test_the_same_or_a_lower_limit_keeps_the_job_failed_and_build_oom_killed(build_memory: str) -> None:
    decision = run(oom_failed("16Gi"), build_memory)
    assert decision.oom_retry is None and not decision.build_engine
    status, reason, message = conditions(decision)[ConditionType.ENGINE_READY]
    assert (status, reason) == ("False", Reason.BUILD_OOM_KILLED)
    assert message == oom_message(JOB, OomKill("b-1", "16Gi"))
    assert decision.status.phase == "Failed"
