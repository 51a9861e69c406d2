"""A build no node of its GPU pool can hold is reported before it starts, naming both figures; an empty pool is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from diffusion_operator.api.conditions import ConditionType, Reason
from diffusion_operator.api.quantity import GIB
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import Endpoints
from diffusion_operator.reconcile.build_fit import BuildNodes, NodeMemory, build_fit, node_memory
from diffusion_operator.reconcile.decide import decide
from diffusion_operator.reconcile.observation import DeploymentState, JobState, Observation

from tests.unit.reconcile.builds import build_for

L4_POOL = {"cloud.google.com/gke-accelerator": "nvidia-l4"}
G2_STANDARD_8 = NodeMemory("gke-l4-a", 30_442_976 * 1024)  # what a g2-standard-8 reports: ~29.0 GiB
G2_STANDARD_16 = NodeMemory("gke-l4-b", 61 * GIB)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = "sdxl-new"


def pool(*nodes: NodeMemory) -> BuildNodes:
    return BuildNodes(selector=L4_POOL, nodes=nodes)


@pytest.mark.parametrize(("request_gib", "nodes", "fits"), [
    (16, pool(G2_STANDARD_8), True),
    (36, pool(G2_STANDARD_8), False),
    (36, pool(G2_STANDARD_8, G2_STANDARD_16), True),  # some node of the pool can hold it: the scheduler picks
    (29, pool(NodeMemory("exact", 29 * GIB)), True),  # allocatable is what a pod may have, all of it
    (36, pool(), True),  # an autoscaled pool at zero: nodes appear only once a pod asks
    (36, None, True),  # nodes not read (the Job exists, or nodes may not be listed)
])
def test_a_build_fits_when_some_node_of_its_pool_has_the_memory(request_gib: int, nodes: BuildNodes | None,
                                                                 fits: bool) -> None:
    assert build_fit(request_gib * GIB, "figures", nodes).fits is fits


def test_the_message_names_the_need_its_source_and_the_largest_node() -> None:
    fit = build_fit(36 * GIB, "spec.engine.buildResources.requests.memory", pool(G2_STANDARD_8))
    assert fit.message.startswith(
        "the build needs 36.0 GiB of memory (spec.engine.buildResources.requests.memory) but the largest node "
        "with cloud.google.com/gke-accelerator=nvidia-l4, gke-l4-a, has 29.0 GiB allocatable")
    assert "spec.engine.buildResources" in fit.message.split("created: ")[1]


def test_nodes_report_their_allocatable_memory_and_one_without_is_left_out() -> None:
    nodes = [{"metadata": {"name": "a"}, "status": {"allocatable": {"memory": "30442976Ki", "cpu": "7910m"}}},
             {"metadata": {"name": "registering"}, "status": {}},
             {"metadata": {"name": "odd"}, "status": {"allocatable": {"memory": "lots"}}}]
    assert node_memory(nodes) == (NodeMemory("a", 30_442_976 * 1024),)


def service(**spec: object) -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 2},
        "spec": {"model": {"source": "hf://stabilityai/sdxl@abc"}, **spec},
    })


def run(svc: DiffusionService, nodes: BuildNodes | None, *, job_phase: str = "Missing",
        deployment: DeploymentState | None = None):
    obs = Observation(desired_job=JobState(f"engine-{KEY}", job_phase),  # type: ignore[arg-type]
                      serving_job=None, deployment=deployment or DeploymentState(name="s", exists=False),
                      build_nodes=nodes)
    return decide(svc, obs, cache_key=KEY, selector="a=b", endpoints=Endpoints(), now=NOW,
                  build=build_for(svc.spec))


def engine_ready(decision) -> tuple[str, str, str]:
    cond = next(c for c in decision.status.conditions if c.type == ConditionType.ENGINE_READY)
    return cond.status, cond.reason, cond.message


def test_a_build_that_cannot_fit_is_not_created_and_says_why_with_a_warning() -> None:
    svc = service(engine={"buildResources": {"requests": {"memory": "40Gi"}}})
    decision = run(svc, pool(G2_STANDARD_8))
    status, reason, message = engine_ready(decision)
    assert (status, reason) == ("False", Reason.BUILD_WONT_FIT)
    assert "40.0 GiB" in message and "29.0 GiB" in message
    assert decision.build_engine is False
    assert decision.status.phase == "Failed"
    assert decision.status.engine is not None and decision.status.engine.state == "Failed"
    progressing = next(c for c in decision.status.conditions if c.type == ConditionType.PROGRESSING)
    assert progressing.status == "False"
    assert [(e.type, e.reason) for e in decision.events if e.reason == Reason.BUILD_WONT_FIT] == [
        ("Warning", Reason.BUILD_WONT_FIT)]


def test_the_computed_figure_is_named_when_no_override_is_set() -> None:
    _, reason, message = engine_ready(run(service(), pool(NodeMemory("small", 8 * GIB))))
    assert reason == Reason.BUILD_WONT_FIT
    assert "(sdxl clip2 fp16 export 8.8 GiB + 15 %)" in message


def test_a_build_that_fits_or_whose_pool_is_empty_is_created() -> None:
    assert run(service(), pool(G2_STANDARD_8)).build_engine is True
    assert run(service(engine={"buildResources": {"requests": {"memory": "40Gi"}}}), pool()).build_engine is True


def test_an_existing_job_is_never_judged_by_the_nodes() -> None:
    decision = run(service(engine={"buildResources": {"requests": {"memory": "40Gi"}}}),
                   pool(G2_STANDARD_8), job_phase="Running")
    assert engine_ready(decision)[1] == Reason.BUILDING


def test_an_old_engine_keeps_serving_while_the_new_build_cannot_fit_and_the_service_is_degraded() -> None:
    serving = DeploymentState(name="s", exists=True, serving_key="sdxl-old", spec_replicas=1, replicas=1,
                              ready_replicas=1, updated_replicas=1, available=True, rollout_complete=True)
    decision = run(service(engine={"buildResources": {"requests": {"memory": "40Gi"}}}), pool(G2_STANDARD_8),
                   deployment=serving)
    assert decision.serving_key == "sdxl-old"
    degraded = next(c for c in decision.status.conditions if c.type == ConditionType.DEGRADED)
    assert (degraded.status, degraded.reason) == ("True", Reason.BUILD_WONT_FIT)
