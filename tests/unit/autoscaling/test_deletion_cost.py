"""Before a scale-down the idle pods get the lowest deletion cost, so they are the ones removed."""

from __future__ import annotations

from diffusion_operator.autoscaling.deletion_cost import MAX_COST, deletion_costs
from diffusion_operator.metrics.promql import TritonScope, completed_requests_by_pod, pending_requests_by_pod


def test_queued_work_outweighs_recent_completions_and_idle_pods_cost_nothing():
    costs = deletion_costs(["busy", "executing", "idle", "new"], pending={"busy": 2, "executing": 0, "idle": 0},
                           completed={"busy": 1, "executing": 7, "idle": 0})
    assert costs == {"busy": 2001, "executing": 7, "idle": 0, "new": 0}
    assert sorted(costs, key=costs.__getitem__)[:2] == ["idle", "new"]


def test_the_cost_fits_the_annotations_int32_and_is_never_negative():
    costs = deletion_costs(["a", "b"], pending={"a": 1e12, "b": -3}, completed={"b": -1})
    assert costs == {"a": MAX_COST, "b": 0}


def test_the_per_pod_queries_group_by_pod():
    scope = TritonScope("ns", "sdxl", "sdxl")
    assert pending_requests_by_pod(scope) == \
        'sum by (pod) (nv_inference_pending_request_count{namespace="ns",diffusion_dev_service="sdxl",model="sdxl"})'
    assert completed_requests_by_pod(scope, 30).startswith("sum by (pod) (increase(nv_inference_request_success{")
