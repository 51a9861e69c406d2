"""The reconcile decision as a table: observation in, children and status out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import Endpoints
from diffusion_operator.reconcile.decide import decide, serving_key_for
from diffusion_operator.reconcile.events import transition_events
from diffusion_operator.reconcile.observation import DeploymentState, JobState, Observation, PodProblem
from diffusion_operator.reconcile.owners import MAX_BUILD_OWNERS

from tests.unit.reconcile.builds import build_for

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY, OLD = "sdxl-new", "sdxl-old"


def svc(**spec: object) -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 3},
        "spec": {"model": {"source": "builtin://tiny-sdxl"}, **spec},
    })


def job(phase: str, **kw: object) -> JobState:
    return JobState(name=f"engine-{KEY}", phase=phase, **kw)  # type: ignore[arg-type]


NO_DEPLOYMENT = DeploymentState(name="s", exists=False)


def serving(key: str, ready: int = 1, **kw: object) -> DeploymentState:
    return DeploymentState(name="s", exists=True, serving_key=key, spec_replicas=1, replicas=ready,
                           ready_replicas=ready, updated_replicas=ready, available=ready > 0,
                           rollout_complete=ready > 0, **kw)  # type: ignore[arg-type]


def run(service: DiffusionService, desired: JobState, deployment: DeploymentState,
        serving_job: JobState | None = None, secret_missing: str | None = None):
    obs = Observation(desired_job=desired, serving_job=serving_job, deployment=deployment,
                      secret_missing=secret_missing)
    return decide(service, obs, cache_key=KEY, selector="a=b", endpoints=Endpoints(http="http://s.n.svc:8000"),
                  now=NOW, build=build_for(service.spec))


def conditions(decision) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in decision.status.conditions}


@pytest.mark.parametrize(("desired", "phase", "engine_reason"), [
    (job("Missing"), "Building", Reason.BUILD_PENDING),
    (job("Pending"), "Building", Reason.BUILD_PENDING),
    (job("Running"), "Building", Reason.BUILDING),
    (job("Failed", reason="BackoffLimitExceeded", message="source unreachable"), "Failed", Reason.BUILD_FAILED),
    (job("Failed", reason="DeadlineExceeded"), "Failed", Reason.BUILD_TIMED_OUT),
])
def test_without_a_deployment_the_engine_build_decides_the_phase(desired, phase, engine_reason):
    decision = run(svc(), desired, NO_DEPLOYMENT)
    assert decision.status.phase == phase
    assert conditions(decision)["EngineReady"] == ("False", engine_reason)
    assert conditions(decision)["Ready"][0] == "False"
    assert decision.serving_key is None
    assert decision.build_engine is (desired.phase == "Missing")


def test_a_build_failure_message_reaches_the_condition():
    decision = run(svc(), job("Failed", reason="BackoffLimitExceeded", message="hub unreachable"), NO_DEPLOYMENT)
    engine = next(c for c in decision.status.conditions if c.type == "EngineReady")
    assert "hub unreachable" in engine.message


def test_a_finished_build_is_served_and_the_service_is_ready_once_pods_are():
    decision = run(svc(), job("Succeeded", summary={"tensorrt_version": "10.13"}), serving(KEY))
    assert decision.serving_key == KEY
    assert decision.status.phase == "Ready"
    assert conditions(decision)["Ready"] == ("True", Reason.SERVING)
    assert decision.status.engine is not None and decision.status.engine.tensorrt_version == "10.13"
    assert decision.status.endpoints is not None


def test_a_finished_build_does_not_keep_the_message_written_while_it_was_pending():
    pending = run(svc(), job("Pending"), NO_DEPLOYMENT)
    assert pending.status.engine is not None and "waiting to start" in pending.status.engine.message
    # The next reconcile sees the Job done, its pods not re-read (no summary, no message).
    done = run(svc().model_copy(update={"status": pending.status}), job("Succeeded"), serving(KEY))
    assert done.status.engine is not None and done.status.engine.state == "Succeeded"
    assert "waiting to start" not in done.status.engine.message
    # A builder's message, once reported for the succeeded build, is kept by later reconciles.
    built = run(svc(), job("Succeeded", message="built and published sdxl-new in 17.3 s"), serving(KEY))
    later = run(svc().model_copy(update={"status": built.status}), job("Succeeded"), serving(KEY))
    assert later.status.engine is not None and later.status.engine.message == "built and published sdxl-new in 17.3 s"


def test_a_finished_build_without_ready_pods_is_deploying():
    decision = run(svc(), job("Succeeded"), serving(KEY, ready=0))
    assert decision.status.phase == "Deploying"
    assert conditions(decision)["Available"] == ("False", Reason.REPLICAS_UNAVAILABLE)


def test_while_a_new_engine_builds_the_old_one_keeps_serving_and_the_service_stays_ready():
    decision = run(svc(), job("Running"), serving(OLD), serving_job=JobState("engine-old", "Succeeded"))
    assert decision.serving_key == OLD
    assert decision.status.phase == "Ready"
    assert conditions(decision)["Progressing"] == ("True", Reason.NEW_ENGINE_BUILDING)


def test_a_failed_new_engine_leaves_the_old_one_serving_but_degraded():
    decision = run(svc(), job("Failed", reason="BackoffLimitExceeded"), serving(OLD),
                   serving_job=JobState("engine-old", "Succeeded"))
    assert decision.serving_key == OLD
    assert decision.status.phase == "Degraded"
    assert conditions(decision)["Degraded"] == ("True", Reason.BUILD_FAILED)


@pytest.mark.parametrize("problem", [
    PodProblem(Reason.IMAGE_PULL_FAILED, "ImagePullBackOff in pod s-1: back-off"),
    PodProblem(Reason.CRASH_LOOP_BACK_OFF, "CrashLoopBackOff in pod s-1: back-off restarting failed container"),
    PodProblem(Reason.UNSCHEDULABLE, "Unschedulable pod s-1: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
])
def test_a_pod_that_cannot_start_is_named_by_its_reason_in_available_and_ready(problem: PodProblem):
    decision = run(svc(), job("Succeeded"), serving(KEY, ready=0, pod_problem=problem))
    assert conditions(decision)["Available"] == ("False", problem.reason)
    ready = next(c for c in decision.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason, ready.message) == ("False", problem.reason, problem.message)
    assert decision.status.phase == "Deploying"
    assert [(e.type, e.reason) for e in decision.events if e.reason == problem.reason] == [("Warning", problem.reason)]


def test_pods_not_ready_without_a_problem_are_a_cold_start():
    decision = run(svc(), job("Succeeded"), serving(KEY, ready=0))
    available = next(c for c in decision.status.conditions if c.type == "Available")
    assert (available.status, available.reason, available.message) == (
        "False", Reason.REPLICAS_UNAVAILABLE, "0/1 Triton pods ready")


def test_a_missing_secret_is_reported_as_such():
    decision = run(svc(), job("Pending"), NO_DEPLOYMENT, secret_missing='secret "hf" not found')
    assert conditions(decision)["EngineReady"] == ("False", Reason.SECRET_NOT_FOUND)
    assert decision.status.phase == "Failed"


def test_manual_replicas_come_from_the_spec_and_autoscaled_ones_are_left_to_the_autoscaler():
    assert run(svc(replicas=3), job("Succeeded"), serving(KEY)).replica_ownership.rendered_replicas == 3
    assert run(svc(), job("Succeeded"), serving(KEY)).replica_ownership.rendered_replicas == 1
    auto = svc(autoscaling={"enabled": True, "maxReplicas": 4, "queueLatencyTarget": "1s"})
    decision = run(auto, job("Succeeded"), serving(KEY))
    assert decision.replica_ownership.rendered_replicas is None
    assert decision.status.desired_replicas == 1  # what the Deployment has


def test_scaled_to_zero_is_not_available_but_says_why():
    auto = svc(autoscaling={"enabled": True, "minReplicas": 0, "maxReplicas": 4, "queueLatencyTarget": "1s",
                            "activation": {"query": "sum(gateway_pending)"}})
    zero = DeploymentState(name="s", exists=True, serving_key=KEY, spec_replicas=0, rollout_complete=True)
    decision = run(auto, job("Succeeded"), zero)
    assert conditions(decision)["Available"] == ("False", Reason.SCALED_TO_ZERO)


def test_an_existing_build_of_another_service_is_adopted_not_recreated():
    shared = job("Running", owner_uids=frozenset({"other"}))
    decision = run(svc(), shared, NO_DEPLOYMENT)
    assert decision.build_engine is False and decision.adopt_build is True
    mine = job("Running", owner_uids=frozenset({"u1"}))
    assert run(svc(), mine, NO_DEPLOYMENT).adopt_build is False


def test_a_build_with_its_owner_slots_full_is_followed_not_owned_and_not_recreated():
    full = job("Running", owner_uids=frozenset(f"other-{i}" for i in range(MAX_BUILD_OWNERS)))
    decision = run(svc(), full, NO_DEPLOYMENT)
    assert decision.build_engine is False and decision.adopt_build is False
    assert decision.status.engine.state == "Building"  # it still reports the build it follows


def test_the_serving_key_never_falls_back_to_a_failed_build():
    obs = Observation(desired_job=job("Running"), serving_job=JobState("engine-old", "Failed"),
                      deployment=serving(OLD))
    assert serving_key_for(KEY, obs) is None


def test_a_second_identical_decision_changes_nothing_and_posts_no_events():
    first = run(svc(), job("Succeeded"), serving(KEY))
    again_service = svc().model_copy(update={"status": first.status})
    second = decide(again_service, Observation(job("Succeeded"), None, serving(KEY)), cache_key=KEY,
                    selector="a=b", endpoints=Endpoints(http="http://s.n.svc:8000"), now=NOW,
                    build=build_for(again_service.spec))
    assert second.status == first.status
    assert second.events == []


def test_events_follow_flips_and_news_but_not_every_reason_change_of_degraded():
    quiet = run(svc(), job("Running"), NO_DEPLOYMENT)
    after = run(svc().model_copy(update={"status": quiet.status}), job("Succeeded"), serving(KEY))
    reasons = {e.reason for e in transition_events(quiet.status.conditions, after.status.conditions)}
    assert Reason.ENGINE_BUILT in reasons and Reason.SERVING in reasons
    warning = run(svc(), job("Failed", reason="BackoffLimitExceeded"), NO_DEPLOYMENT)
    assert any(e.type == "Warning" and e.reason == Reason.BUILD_FAILED for e in warning.events)
