"""Clusters that are not GKE label GPU nodes differently: the operator's overrides replace GKE's."""

from __future__ import annotations

from diffusion_operator.render.pods import gpu_scheduling


def test_without_overrides_the_gke_label_and_taint_are_used():
    rendered = gpu_scheduling("nvidia-l4")
    assert rendered["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert rendered["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present",
                                        "effect": "NoSchedule"}]


def test_overrides_replace_the_label_of_that_type_and_the_tolerations():
    rendered = gpu_scheduling("nvidia-l4", node_labels={"nvidia-l4": {"nvidia.com/gpu.product": "NVIDIA-L4"}},
                              gpu_tolerations=[{"key": "gpu", "operator": "Exists"}])
    assert rendered["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    assert rendered["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    other = gpu_scheduling("nvidia-h100-80gb", node_labels={"nvidia-l4": {"x": "y"}})
    assert other["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
