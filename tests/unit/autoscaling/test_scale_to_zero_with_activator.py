"""The scaler with an activator in front: wake on the first held request, never go to zero while
requests are held, go to zero after scaleToZeroAfter of true idleness."""

from __future__ import annotations

from diffusion_operator.api.spec_autoscaling import AutoscalingSpec
from diffusion_operator.autoscaling import History, decide
from diffusion_operator.autoscaling.from_spec import policy_from_spec
from diffusion_operator.autoscaling.observation import Observation

POLICY = policy_from_spec(AutoscalingSpec.model_validate({
    "enabled": True, "minReplicas": 0, "maxReplicas": 4, "queueLatencyTarget": "1s",
    "activation": {"scaleToZeroAfter": "30s"}}))


def test_min_replicas_zero_alone_keeps_the_default_idle_time():
    default = policy_from_spec(AutoscalingSpec.model_validate({
        "enabled": True, "minReplicas": 0, "maxReplicas": 4, "queueLatencyTarget": "1s"}))
    assert default.allows_zero and default.scale_to_zero_after_s == 600 and default.activation_pending_requests == 0


def test_the_first_held_request_wakes_the_service():
    decision = decide(Observation(0, 0, queue_latency_s=0.0, pending_requests=1.0), POLICY, History(), now=1000.0)
    assert decision.replicas == 1 and decision.reason == "WokeFromZero"


def test_nothing_held_at_zero_stays_at_zero():
    decision = decide(Observation(0, 0, queue_latency_s=0.0, pending_requests=0.0), POLICY, History(), now=1000.0)
    assert decision.replicas == 0


def test_requests_held_while_the_pod_starts_keep_it_even_after_the_idle_time():
    history = History()
    for now in range(1000, 1200, 15):  # 200 s > scaleToZeroAfter, with 2 requests held throughout
        decision = decide(Observation(1, 0, queue_latency_s=0.0, pending_requests=2.0, arrival_rate=0.0),
                          POLICY, history, now=float(now))
        history = decision.history
        assert decision.replicas >= 1, decision.message


def test_an_idle_service_goes_to_zero_after_scale_to_zero_after():
    history, replicas = History(), []
    for now in range(1000, 1100, 5):
        decision = decide(Observation(1, 1, queue_latency_s=0.0, pending_requests=0.0, arrival_rate=0.0),
                          POLICY, history, now=float(now))
        history = decision.history
        replicas.append((now, decision.replicas))
    went = next(now for now, count in replicas if count == 0)
    assert 1030 <= went <= 1035
