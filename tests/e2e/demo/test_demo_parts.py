"""The demo's pure parts: figures read off logs and pods, and the sample it applies."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace as Ns

from testbed.demo.manifests import demo_service
from testbed.demo.timings import builder_stages, pod_startup, triton_model_load_s

TRITON_LOG = """\
W1203 11:25:40.101000 1 pinned_memory_manager.cc:273] Unable to allocate pinned system memory
I1203 11:25:40.250000 1 model_lifecycle.cc:473] loading: sdxl:1
I1203 11:25:44.350000 1 model_lifecycle.cc:849] successfully loaded 'sdxl'
I1203 11:25:44.501000 1 http_server.cc:4713] Started HTTPService at 0.0.0.0:8000
I1203 11:25:44.500000 1 http_server.cc:362] Started Metrics Service at 0.0.0.0:8002
"""


def at(second: int) -> dt.datetime:
    return dt.datetime(2026, 12, 3, 11, 25, second, tzinfo=dt.UTC)


def test_the_model_load_is_read_from_tritons_log_from_its_first_line_to_the_http_service():
    assert triton_model_load_s(TRITON_LOG) == 4.4
    assert triton_model_load_s("no timestamps here\n") is None


def test_builder_stages_come_from_its_progress_lines():
    log = ("progress stage=source pct=10 done in 5.7s\nsomething else\n"
           "progress stage=export pct=55 done in 7.5s\n")
    assert builder_stages(log) == {"source": 5.7, "export": 7.5}


def test_a_pods_way_to_ready_is_split_at_its_container_start():
    pod = Ns(metadata=Ns(name="tiny-1"), spec=Ns(node_name="real-0"), status=Ns(
        conditions=[Ns(type="PodScheduled", status="True", last_transition_time=at(10)),
                    Ns(type="Ready", status="True", last_transition_time=at(30))],
        container_statuses=[Ns(state=Ns(running=Ns(started_at=at(12)), terminated=None))]))
    startup = pod_startup(pod, TRITON_LOG)
    assert (startup.container_start_s, startup.model_load_s, startup.ready_s) == (2.0, 4.4, 18.0)


def test_the_demo_applies_the_tiny_sample_with_a_short_scale_down_and_small_requests():
    service = demo_service("demo", 30)
    assert service["spec"]["model"]["source"] == "builtin://tiny-sdxl"
    assert service["spec"]["autoscaling"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert service["spec"]["serving"]["resources"]["requests"] == {"cpu": "100m", "memory": "512Mi"}
    assert service["metadata"] == {"name": "tiny", "namespace": "demo"}
