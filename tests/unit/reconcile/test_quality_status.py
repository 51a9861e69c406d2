"""The quality gate in the reconcile: a refused build keeps the old engine, scores reach status, minSteps is judged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from diffusion_operator.api.conditions import ConditionType, Reason
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import Endpoints
from diffusion_operator.reconcile.decide import decide
from diffusion_operator.reconcile.observation import DeploymentState, JobState, Observation, job_state
from diffusion_operator.reconcile.quality import quality_from_summary, steps_quality

from tests.unit.reconcile.builds import build_for

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
KEY, OLD = "sdxl-new", "sdxl-old"


def svc(**spec: object) -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 2},
        "spec": {"model": {"source": "builtin://tiny-sdxl"}, **spec},
    })


def serving(key: str) -> DeploymentState:
    return DeploymentState(name="s", exists=True, serving_key=key, spec_replicas=1, replicas=1, ready_replicas=1,
                           updated_replicas=1, available=True, rollout_complete=True)


def quality(verdict: str = "Passed", lowest: int | None = 20, ssim: float = 0.99) -> dict:
    return {
        "verdict": verdict, "message": "every score within its threshold", "steps": 30,
        "scores": {"psnrDb": 36.1, "ssim": ssim, "finite": True}, "referenceScores": {},
        "thresholds": {"minPsnrDb": 30.0, "minSsim": 0.95, "maxClipDropPercent": 0.2,
                       "maxAdherenceDropPoints": 10.0, "minStepsSsim": 0.8},
        "prompts": ["a red circle on a white background"],
        "curve": [{"steps": 30, "psnrDb": 36.1, "ssim": ssim, "finite": True, "passed": True},
                  {"steps": 20, "psnrDb": 30.0, "ssim": 0.9, "finite": True, "passed": True},
                  {"steps": 10, "psnrDb": 20.0, "ssim": 0.7, "finite": True, "passed": False}],
        "lowestPassingSteps": lowest, "seconds": 4.2, "attempts": 1,
    }


REFUSED = {"status": "failed", "error": "QualityGateFailed", "seconds": 60.0,
           "message": "quality gate failed: ssim 0.822 < minSsim 0.95 for 'a red circle' (seed 11)",
           "quality": quality("Failed", lowest=None, ssim=0.822)}


def terminated_pod(summary: dict) -> dict:
    """A build pod whose container left ``summary`` as its termination message (what the kubelet keeps)."""
    return {"metadata": {"name": "engine-pod", "creationTimestamp": "2026-12-06T11:00:00Z"},
            "status": {"containerStatuses": [{"name": "builder", "state": {"terminated": {
                "exitCode": 6, "message": json.dumps(summary), "finishedAt": "2026-12-06T11:01:00Z"}}}]}}


def failed_job() -> dict:
    return {"metadata": {"name": f"engine-{KEY}", "ownerReferences": []},
            "status": {"startTime": "2026-12-06T11:00:00Z",
                       "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}


def run(service: DiffusionService, desired: JobState, deployment: DeploymentState):
    obs = Observation(desired_job=desired, serving_job=JobState("engine-old", "Succeeded"), deployment=deployment)
    return decide(service, obs, cache_key=KEY, selector="a=b", endpoints=Endpoints(http="http://s:8000"), now=NOW,
                  build=build_for(service.spec))


def conditions(decision) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in decision.status.conditions}


def test_a_refused_build_read_from_its_pod_keeps_the_old_engine_serving_and_names_score_and_threshold():
    desired = job_state(f"engine-{KEY}", failed_job(), [terminated_pod(REFUSED)])
    assert desired.phase == "Failed" and desired.summary["error"] == "QualityGateFailed"
    decision = run(svc(), desired, serving(OLD))
    status, reason, message = conditions(decision)[ConditionType.ENGINE_READY]
    assert (status, reason) == ("False", Reason.QUALITY_GATE_FAILED)
    assert "ssim 0.822 < minSsim 0.95" in message and "previous engine keeps serving" in message
    assert decision.serving_key == OLD and not decision.build_engine
    assert decision.status.phase == "Degraded"
    assert conditions(decision)[ConditionType.DEGRADED][:2] == ("True", Reason.QUALITY_GATE_FAILED)
    engine = decision.status.engine
    assert engine is not None and engine.quality is not None and engine.quality.verdict == "Failed"
    assert engine.quality.scores is not None and engine.quality.scores.ssim == 0.822
    warnings = [n for n in decision.events if n.reason == Reason.QUALITY_GATE_FAILED]
    assert warnings and warnings[0].type == "Warning"


def test_an_unscorable_build_is_quality_gate_unavailable_with_its_cause():
    summary = {"status": "failed", "error": "QualityGateUnavailable", "seconds": 3.0,
               "message": "quality gate unavailable: prompts: the prompt set is empty; nothing could be scored",
               "quality": {"verdict": "Unavailable", "message": "prompts: the prompt set is empty", "steps": 30}}
    decision = run(svc(), JobState(f"engine-{KEY}", "Failed", summary=summary), serving(OLD))
    status, reason, message = conditions(decision)[ConditionType.ENGINE_READY]
    assert (status, reason) == ("False", Reason.QUALITY_GATE_UNAVAILABLE)
    assert "the prompt set is empty" in message and decision.serving_key == OLD


def test_an_ordinary_build_failure_is_still_build_failed():
    summary = {"status": "failed", "error": "SourceUnavailable", "message": "hf://x/y: 404"}
    decision = run(svc(), JobState(f"engine-{KEY}", "Failed", summary=summary, message="hf://x/y: 404"),
                   serving(OLD))
    assert conditions(decision)[ConditionType.ENGINE_READY][1] == Reason.BUILD_FAILED


def test_a_published_build_carries_its_scores_into_status_and_engine_ready():
    summary = {"status": "built", "cache_key": KEY, "quality": quality()}
    decision = run(svc(), JobState(f"engine-{KEY}", "Succeeded", summary=summary), serving(OLD))
    engine = decision.status.engine
    assert engine is not None and engine.quality is not None
    assert engine.quality.lowest_passing_steps == 20 and [p.steps for p in engine.quality.curve] == [30, 20, 10]
    assert engine.quality.thresholds is not None and engine.quality.thresholds.min_ssim == 0.95
    assert engine.quality.prompts == ["a red circle on a white background"]
    assert "quality gate passed (worst ssim 0.99" in conditions(decision)[ConditionType.ENGINE_READY][2]
    dumped = decision.status.model_dump(by_alias=True, exclude_none=True)
    assert dumped["engine"]["quality"]["lowestPassingSteps"] == 20


def test_scores_survive_a_reconcile_that_did_not_re_read_the_pods():
    first = run(svc(), JobState(f"engine-{KEY}", "Succeeded", summary={"quality": quality()}), serving(KEY))
    again = svc().model_copy(update={"status": first.status})
    decision = run(again, JobState(f"engine-{KEY}", "Succeeded"), serving(KEY))
    assert decision.status.engine is not None and decision.status.engine.quality == first.status.engine.quality


OVERLOAD = {"autoscaling": {"enabled": True, "maxReplicas": 3, "queueLatencyTarget": "500ms",
                            "overload": {"enabled": True, "minSteps": 10}}}


@pytest.mark.parametrize(("spec", "report", "expected"), [
    ({}, quality(), ("True", Reason.SPEED_TIER_DISABLED)),
    (OVERLOAD, None, ("Unknown", Reason.NO_QUALITY_CURVE)),
    (OVERLOAD, quality(lowest=20), ("False", Reason.MIN_STEPS_BELOW_QUALITY_FLOOR)),
    (OVERLOAD, quality(lowest=10), ("True", Reason.MIN_STEPS_ABOVE_QUALITY_FLOOR)),
    (OVERLOAD, quality(lowest=5), ("True", Reason.MIN_STEPS_ABOVE_QUALITY_FLOOR)),
    (OVERLOAD, quality(lowest=None), ("False", Reason.MIN_STEPS_BELOW_QUALITY_FLOOR)),
])
def test_min_steps_is_judged_against_the_lowest_passing_step_count(spec, report, expected):
    parsed = quality_from_summary({"quality": report}) if report else None
    status, reason, _ = steps_quality(svc(**spec).spec, parsed)
    assert (status, reason) == expected


def test_a_min_steps_below_the_floor_is_a_condition_with_a_warning_event():
    summary = {"status": "built", "quality": quality(lowest=20)}
    decision = run(svc(**OVERLOAD), JobState(f"engine-{KEY}", "Succeeded", summary=summary), serving(KEY))
    status, reason, message = conditions(decision)[ConditionType.STEPS_QUALITY]
    assert (status, reason) == ("False", Reason.MIN_STEPS_BELOW_QUALITY_FLOOR)
    assert "minSteps 10 is below 20" in message and "raise minSteps to 20" in message
    notes = [n for n in decision.events if n.reason == Reason.MIN_STEPS_BELOW_QUALITY_FLOOR]
    assert notes and notes[0].type == "Warning"


def test_a_healthy_steps_quality_is_not_announced():
    summary = {"status": "built", "quality": quality(lowest=10)}
    decision = run(svc(**OVERLOAD), JobState(f"engine-{KEY}", "Succeeded", summary=summary), serving(KEY))
    assert conditions(decision)[ConditionType.STEPS_QUALITY][0] == "True"
    assert not [n for n in decision.events if n.reason == Reason.MIN_STEPS_ABOVE_QUALITY_FLOOR]


def test_a_malformed_quality_report_is_dropped_not_fatal():
    assert quality_from_summary({"quality": {"verdict": "Great"}}) is None
    assert quality_from_summary({"quality": "passed"}) is None
    assert quality_from_summary({}) is None
