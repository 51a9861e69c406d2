"""Parsing Job, Pod and Deployment status into observations."""

from __future__ import annotations

import pytest
from diffusion_operator.api.conditions import START_PROBLEMS, Reason
from diffusion_operator.reconcile.observation import (
    PodProblem,
    deployment_state,
    job_state,
    pod_problem,
    termination_summary,
)

KEY_ANNOTATION = "diffusion.dev/engine-key"


def test_a_missing_job_is_missing():
    assert job_state("j", None, []).phase == "Missing"


def test_job_conditions_map_to_phases_and_reasons():
    complete = {"status": {"startTime": "2026-11-25T10:00:00Z", "completionTime": "2026-11-25T10:20:00Z",
                           "conditions": [{"type": "Complete", "status": "True"}]}}
    state = job_state("j", complete, [])
    assert state.phase == "Succeeded"
    assert (state.completed_at - state.started_at).total_seconds() == 1200

    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                         "message": "Job was active longer than specified deadline"}]}}
    state = job_state("j", failed, [])
    assert (state.phase, state.reason) == ("Failed", "DeadlineExceeded")
    assert "deadline" in (state.message or "")

    assert job_state("j", {"status": {"active": 1}}, []).phase == "Running"
    assert job_state("j", {"status": {}}, []).phase == "Pending"


@pytest.mark.parametrize("status", [{"active": 1}, {"conditions": [{"type": "Failed", "status": "True"}]},
                                    {"conditions": [{"type": "Complete", "status": "True"}]}])
def test_a_job_is_observed_with_its_uid_so_a_deletion_can_name_that_incarnation(status):
    assert job_state("j", {"metadata": {"uid": "job-uid-1"}, "status": status}, []).uid == "job-uid-1"


def test_the_builders_json_termination_message_becomes_the_summary():
    pod = {"status": {"containerStatuses": [{"state": {"terminated": {
        "finishedAt": "2026-11-25T10:20:00Z",
        "message": 'progress...\n{"status": "failed", "error": "no text_encoder_2: not an SDXL model"}'}}}]}}
    summary, message = termination_summary([pod])
    assert summary["status"] == "failed"
    assert message == "no text_encoder_2: not an SDXL model"


def test_a_plain_log_tail_is_kept_when_the_builder_crashed_before_its_summary():
    pod = {"status": {"containerStatuses": [{"state": {"terminated": {"message": "Traceback ...\nMemoryError"}}}]}}
    summary, message = termination_summary([pod])
    assert summary == {} and message is not None and message.endswith("MemoryError")


def waiting(reason: str, message: str = "") -> dict:
    return {"metadata": {"name": "p"}, "status": {"containerStatuses": [
        {"state": {"waiting": {"reason": reason, "message": message}}}]}}


@pytest.mark.parametrize(("kubelet", "reason"), [
    ("ImagePullBackOff", Reason.IMAGE_PULL_FAILED),
    ("ErrImagePull", Reason.IMAGE_PULL_FAILED),
    ("InvalidImageName", Reason.IMAGE_PULL_FAILED),
    ("CrashLoopBackOff", Reason.CRASH_LOOP_BACK_OFF),
    ("CreateContainerConfigError", Reason.CONTAINER_CONFIG_INVALID),
    ("RunContainerError", Reason.CONTAINER_CANNOT_RUN),
])
def test_a_container_that_cannot_start_is_a_start_problem_with_its_own_reason(kubelet: str, reason: str):
    problem = pod_problem([waiting(kubelet, "detail")])
    assert problem == PodProblem(reason, f"{kubelet} in pod p: detail")
    assert problem.reason in START_PROBLEMS


def test_pod_problems_name_the_reason_and_the_pod():
    assert pod_problem([waiting("ImagePullBackOff", "Back-off pulling image")]) == PodProblem(
        Reason.IMAGE_PULL_FAILED, "ImagePullBackOff in pod p: Back-off pulling image")
    unschedulable = {"metadata": {"name": "q"}, "status": {"conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/5 nodes"}]}}
    assert pod_problem([unschedulable]) == PodProblem(Reason.UNSCHEDULABLE, "Unschedulable pod q: 0/5 nodes")
    assert Reason.UNSCHEDULABLE in START_PROBLEMS


@pytest.mark.parametrize("kubelet", ["ContainerCreating", "PodInitializing"])
def test_a_container_still_starting_is_no_problem(kubelet: str):
    assert pod_problem([waiting(kubelet)]) is None
    assert pod_problem([{"status": {"containerStatuses": [{"state": {"running": {}}}]}}]) is None


def test_a_deployment_rollout_is_complete_only_when_every_replica_is_updated_and_available():
    deployment = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 2, "template": {"metadata": {"annotations": {KEY_ANNOTATION: "k"}}}},
        "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "readyReplicas": 3,
                   "availableReplicas": 3, "conditions": [{"type": "Available", "status": "True"}]},
    }
    state = deployment_state("d", deployment, [], KEY_ANNOTATION)
    assert state.serving_key == "k" and state.available
    assert not state.rollout_complete  # an old pod is still there
    deployment["status"].update(replicas=2, availableReplicas=2)
    assert deployment_state("d", deployment, [], KEY_ANNOTATION).rollout_complete
