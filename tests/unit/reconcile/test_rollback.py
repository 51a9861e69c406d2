"""Undoing a stuck rollout: the ReplicaSet parser, the pure rule, and what decide() reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import Endpoints
from diffusion_operator.reconcile.decide import decide
from diffusion_operator.reconcile.observation import (
    DeploymentState,
    JobState,
    Observation,
    PodProblem,
    PreviousRevision,
    RolloutState,
    rollout_state,
)
from diffusion_operator.reconcile.rollback import rollback_target, seconds_until_rollback

from tests.unit.reconcile.builds import build_for

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)
KEY, OLD = "sdxl-new", "sdxl-old"
ANNOTATION = "diffusion.dev/engine-key"
CRASH_LOOP = PodProblem(Reason.CRASH_LOOP_BACK_OFF, "CrashLoopBackOff in pod s-ccc: back-off")


def replica_set(revision: int, pod_hash: str, key: str, ready: int) -> dict:
    return {
        "metadata": {"name": f"s-{pod_hash}", "labels": {"pod-template-hash": pod_hash},
                     "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
        "spec": {"template": {"metadata": {"labels": {"app": "s", "pod-template-hash": pod_hash},
                                           "annotations": {ANNOTATION: key}},
                              "spec": {"containers": [{"name": "triton", "image": "triton"}]}}},
        "status": {"readyReplicas": ready},
    }


def pod(pod_hash: str, created: datetime, waiting: str | None = None) -> dict:
    state = {"waiting": {"reason": waiting, "message": "back-off"}} if waiting else {"running": {}}
    return {"metadata": {"name": f"pod-{pod_hash}-{created.second}", "labels": {"pod-template-hash": pod_hash},
                         "creationTimestamp": created.isoformat()},
            "status": {"containerStatuses": [{"name": "triton", "state": state}]}}


DEPLOYMENT = {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "3"}}}


def test_only_the_newest_revisions_pods_count_and_the_one_before_is_the_target():
    sets = [replica_set(1, "aaa", "k1", 0), replica_set(2, "bbb", OLD, 1), replica_set(3, "ccc", KEY, 0)]
    pods = [pod("bbb", NOW - timedelta(hours=1), "CrashLoopBackOff"),  # an old pod's problem is not the new one's
            pod("ccc", NOW - timedelta(seconds=30), "CrashLoopBackOff"),
            pod("ccc", NOW - timedelta(seconds=90), "CrashLoopBackOff")]
    state = rollout_state(DEPLOYMENT, sets, pods, ANNOTATION)
    assert state.revision == 3
    assert state.problem is not None and state.problem.reason == Reason.CRASH_LOOP_BACK_OFF
    assert state.problem.message.startswith("CrashLoopBackOff in pod")
    assert state.problem_since == NOW - timedelta(seconds=90)
    assert state.previous is not None
    assert (state.previous.revision, state.previous.serving_key, state.previous.ready_replicas) == (2, OLD, 1)
    assert "pod-template-hash" not in state.previous.template["metadata"]["labels"]


def test_the_fallback_is_the_newest_revision_that_still_serves_not_a_broken_one_in_between():
    sets = [replica_set(1, "aaa", OLD, 1), replica_set(2, "bbb", OLD, 0), replica_set(3, "ccc", KEY, 0)]
    state = rollout_state(DEPLOYMENT, sets, [pod("ccc", NOW, "CrashLoopBackOff")], ANNOTATION)
    assert state.previous is not None and (state.previous.revision, state.previous.ready_replicas) == (1, 1)


def test_a_new_revision_whose_pods_run_has_no_problem():
    sets = [replica_set(2, "bbb", OLD, 1), replica_set(3, "ccc", KEY, 0)]
    state = rollout_state(DEPLOYMENT, sets, [pod("ccc", NOW)], ANNOTATION)
    assert state.problem is None and state.problem_since is None


PREVIOUS = PreviousRevision(revision=2, template={"metadata": {}}, serving_key=OLD, ready_replicas=1)


@pytest.mark.parametrize(("rollout", "grace", "expected"), [
    (None, GRACE, None),
    (RolloutState(3, CRASH_LOOP, NOW - timedelta(seconds=61), PREVIOUS), GRACE, PREVIOUS),
    (RolloutState(3, CRASH_LOOP, NOW - timedelta(seconds=59), PREVIOUS), GRACE, None),  # inside grace
    (RolloutState(3, None, None, PREVIOUS), GRACE, None),  # still rolling, nothing wrong
    (RolloutState(3, CRASH_LOOP, NOW - timedelta(hours=1), None), GRACE, None),  # first revision
    (RolloutState(3, CRASH_LOOP, NOW - timedelta(hours=1),
                  PreviousRevision(2, {}, OLD, ready_replicas=0)), GRACE, None),  # nothing healthy to go back to
    (RolloutState(3, CRASH_LOOP, NOW - timedelta(hours=1), PREVIOUS), timedelta(0), None),  # disabled
])
def test_the_rollback_rule(rollout, grace, expected):
    assert rollback_target(rollout, NOW, grace) == expected


def service(generation: int = 4, status: dict | None = None) -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": generation},
        "spec": {"model": {"source": "builtin://tiny-sdxl"}}, "status": status or {},
    })


STUCK = DeploymentState(name="s", exists=True, serving_key=KEY, spec_replicas=1, replicas=2, ready_replicas=1,
                        updated_replicas=1, available=True, rollout_complete=False,
                        pod_problem=CRASH_LOOP)


def run(svc: DiffusionService, deployment: DeploymentState, rollout: RolloutState | None):
    obs = Observation(desired_job=JobState(name=f"engine-{KEY}", phase="Succeeded"), serving_job=None,
                      deployment=deployment, rollout=rollout)
    return decide(svc, obs, cache_key=KEY, selector="a=b", endpoints=Endpoints(), now=NOW, rollback_after=GRACE,
                  build=build_for(svc.spec))


def conditions(decision) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in decision.status.conditions}


def test_a_stuck_rollout_past_its_grace_restores_the_previous_template_and_says_so():
    rollout = RolloutState(3, STUCK.pod_problem, NOW - timedelta(minutes=5), PREVIOUS)
    decision = run(service(), STUCK, rollout)
    assert decision.rollback_template == PREVIOUS.template
    assert decision.serving_key == OLD
    assert decision.status.engine is not None and decision.status.engine.serving_cache_key == OLD
    assert decision.status.rollback is not None
    assert (decision.status.rollback.generation, decision.status.rollback.from_revision,
            decision.status.rollback.to_revision) == (4, 3, 2)
    assert conditions(decision)["Degraded"] == ("True", Reason.ROLLED_BACK)
    assert conditions(decision)["Ready"][0] == "True"  # the old pods still serve
    assert decision.status.phase == "Degraded"
    assert [e.reason for e in decision.events].count(Reason.ROLLED_BACK) == 1
    assert any(e.type == "Warning" and "CrashLoopBackOff" in e.message for e in decision.events)


def test_inside_the_grace_the_rollout_is_left_alone_and_reported_unavailable():
    rollout = RolloutState(3, STUCK.pod_problem, NOW - timedelta(seconds=10), PREVIOUS)
    decision = run(service(), STUCK, rollout)
    assert decision.rollback_template is None and not decision.hold_template
    assert conditions(decision)["Degraded"] == ("True", Reason.REPLICAS_UNAVAILABLE)


def test_a_rollback_holds_for_its_generation_and_any_spec_edit_tries_again():
    done = run(service(), STUCK, RolloutState(3, STUCK.pod_problem, NOW - timedelta(minutes=5), PREVIOUS))
    restored = DeploymentState(name="s", exists=True, serving_key=OLD, spec_replicas=1, replicas=1,
                               ready_replicas=1, updated_replicas=1, available=True, rollout_complete=True)
    status = done.status.model_dump(by_alias=True, mode="json", exclude_none=True)
    held = run(service(4, status), restored, None)
    assert held.hold_template and held.rollback_template is None
    assert held.serving_key == OLD
    assert conditions(held)["Degraded"] == ("True", Reason.ROLLED_BACK)
    assert not any(e.reason == Reason.ROLLED_BACK for e in held.events)  # announced once

    edited = run(service(5, status), restored, None)
    assert not edited.hold_template and edited.rollback_template is None
    assert edited.serving_key == KEY
    assert conditions(edited)["Degraded"][1] != Reason.ROLLED_BACK


def test_inside_the_grace_the_decision_asks_to_look_again_when_it_ends():
    rollout = RolloutState(3, STUCK.pod_problem, NOW - timedelta(seconds=10), PREVIOUS)
    assert seconds_until_rollback(rollout, NOW, GRACE) == pytest.approx(51.0)
    assert run(service(), STUCK, rollout).requeue_after == pytest.approx(51.0)
    assert seconds_until_rollback(RolloutState(3, None, None, PREVIOUS), NOW, GRACE) is None
    done = run(service(), STUCK, RolloutState(3, STUCK.pod_problem, NOW - timedelta(minutes=5), PREVIOUS))
    assert done.requeue_after is None
