"""The pydantic spec: the same table the API server judges, plus defaults and typed access."""

from __future__ import annotations

import pytest
from diffusion_operator.api.resource import merge_patch, parse_spec, parse_status, status_patch
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.api.status import DiffusionServiceStatus, EngineStatus
from diffusion_operator.autoscaling.policy import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP
from pydantic import ValidationError

from tests.unit.api.spec_cases import INVALID_SPECS, MINIMAL, VALID_SPECS, Invalid


@pytest.mark.parametrize("name", sorted(VALID_SPECS))
def test_every_valid_spec_parses(name: str) -> None:
    parse_spec(VALID_SPECS[name])


@pytest.mark.parametrize("case", INVALID_SPECS, ids=lambda case: case.id)
def test_every_invalid_spec_is_refused_by_the_models_too(case: Invalid) -> None:
    with pytest.raises(ValidationError):
        parse_spec(case.spec)


def test_there_are_at_least_thirty_invalid_cases() -> None:
    assert len(INVALID_SPECS) >= 30
    assert len({case.id for case in INVALID_SPECS}) == len(INVALID_SPECS)


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = parse_spec(MINIMAL)
    assert spec.engine.precision == "fp16"
    assert [(r.width, r.height) for r in spec.engine.resolutions] == [(1024, 1024)]
    assert spec.engine.max_batch_size == 4
    assert spec.engine.build_timeout == "2h"
    assert (spec.serving.gpu.type, spec.serving.gpu.count) == ("nvidia-l4", 1)
    assert (spec.pipeline.steps, spec.pipeline.guidance_scale, spec.pipeline.scheduler) == (30, 5.0, "euler")
    assert spec.pipeline.upscale is None
    assert spec.replicas is None
    assert spec.autoscaling.enabled is False
    assert spec.autoscaling.scale_down.stabilization_window_seconds == 120


def test_python_defaults_equal_what_the_api_server_stores() -> None:
    """The server's defaulted object (from the CRD) must read back as the same model."""
    server_defaulted = {
        "model": MINIMAL["model"],
        "engine": {"precision": "fp16", "resolutions": [{"width": 1024, "height": 1024}], "maxBatchSize": 4,
                   "buildTimeout": "2h"},
        "serving": {"gpu": {"type": "nvidia-l4", "count": 1}, "maxQueueDelay": "100ms"},
        "pipeline": {"steps": 30, "guidanceScale": 5.0, "scheduler": "euler"},
        "autoscaling": {"enabled": False, "minReplicas": 1},
    }
    assert parse_spec(server_defaulted) == parse_spec(MINIMAL)


def test_spec_round_trips_through_its_wire_form() -> None:
    spec = parse_spec(VALID_SPECS["full-serving"])
    wire = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert wire["serving"]["nodeSelector"] == {"cloud.google.com/gke-nodepool": "a100-pool"}
    assert DiffusionServiceSpec.model_validate(wire) == spec


def test_status_ignores_unknown_keys_such_as_kopf_bookkeeping() -> None:
    status = parse_status({"phase": "Building", "kopf": {"progress": {}}, "engine": {"cacheKey": "sdxl-1"}})
    assert status.phase == "Building"
    assert status.engine == EngineStatus(cache_key="sdxl-1")


def test_status_patch_is_camel_case_without_nulls() -> None:
    status = DiffusionServiceStatus(phase="Ready", ready_replicas=2, engine=EngineStatus(job_name="engine-x"))
    assert status_patch(status) == {
        "phase": "Ready",
        "conditions": [],
        "readyReplicas": 2,
        "engine": {"jobName": "engine-x"},
    }


def test_scaling_behaviour_defaults_equal_the_autoscalers_tuned_defaults() -> None:
    autoscaling = parse_spec(MINIMAL).autoscaling
    for spec_side, policy_side in ((autoscaling.scale_up, DEFAULT_SCALE_UP),
                                   (autoscaling.scale_down, DEFAULT_SCALE_DOWN)):
        assert spec_side.stabilization_window_seconds == policy_side.stabilization_window_s
        assert {(p.type, p.value, p.period_seconds) for p in spec_side.policies} == {
            ("Pods" if limit.pods is not None else "Percent", limit.pods or limit.percent, limit.period_s)
            for limit in policy_side.limits
        }


def test_status_patch_sends_only_changes_and_nulls_for_removals() -> None:
    before = parse_status({
        "phase": "Ready", "replicas": 2, "selector": "a=b",
        "engine": {"cacheKey": "k1", "state": "Succeeded", "completedAt": "2026-01-01T00:00:00Z"},
        "autoscaling": {"observedQueueLatency": "120ms"},
    })
    after = before.model_copy(update={
        "phase": "Building", "engine": EngineStatus(cache_key="k2", state="Building"),
    })
    assert status_patch(after, before) == {
        "phase": "Building",
        "engine": {"cacheKey": "k2", "state": "Building", "completedAt": None},
    }
    assert status_patch(before, before) == {}


def test_merge_patch_replaces_lists_whole() -> None:
    assert merge_patch({"conditions": [{"type": "A"}], "x": 1}, {"conditions": [{"type": "B"}], "x": 1}) == {
        "conditions": [{"type": "B"}]
    }
