"""A GPU pod without TensorRT engines serves on ORT's CUDA provider; the CPU image stays on the CPU."""

from __future__ import annotations

import pytest

from engine_builder.triton_models.ort_providers import CPU, CUDA, check_providers, execution_providers

GPU_WHEEL = [CUDA, CPU]  # what onnxruntime-gpu reports
CPU_WHEEL = [CPU]


@pytest.mark.parametrize(("available", "requested", "device", "expected"), [
    (GPU_WHEEL, None, 1, [(CUDA, {"device_id": 1}), CPU]),
    (GPU_WHEEL, "auto", 0, [(CUDA, {"device_id": 0}), CPU]),
    (GPU_WHEEL, "cpu", 0, [CPU]),
    (CPU_WHEEL, None, 0, [CPU]),
    (CPU_WHEEL, "CPU", 0, [CPU]),
])
def test_the_provider_follows_the_wheel_and_the_override(available, requested, device, expected, monkeypatch):
    monkeypatch.delenv("ORT_EXECUTION_PROVIDER", raising=False)
    assert execution_providers(available, device, requested) == expected


def test_the_environment_variable_chooses_when_no_argument_does(monkeypatch):
    monkeypatch.setenv("ORT_EXECUTION_PROVIDER", "cpu")
    assert execution_providers(GPU_WHEEL) == [CPU]


def test_asking_for_cuda_without_the_gpu_wheel_fails_naming_the_wheel():
    with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
        execution_providers(CPU_WHEEL, 0, "cuda")
    with pytest.raises(ValueError, match="auto, cuda or cpu"):
        execution_providers(GPU_WHEEL, 0, "rocm")


class Session:
    def __init__(self, providers: list[str]) -> None:
        self.providers = providers

    def get_providers(self) -> list[str]:
        return self.providers


def test_a_silent_fallback_from_cuda_to_the_cpu_is_an_error():
    wanted = execution_providers(GPU_WHEEL, 0, "auto")
    check_providers(Session([CUDA, CPU]), wanted)
    check_providers(Session([CPU]), [CPU])
    with pytest.raises(RuntimeError, match="could not start CUDA"):
        check_providers(Session([CPU]), wanted)


def test_the_gpu_serving_image_pins_onnxruntime_gpu_at_the_projects_onnxruntime_version():
    from pathlib import Path  # noqa: PLC0415 - only this test reads files

    root = Path(__file__).resolve().parents[3]
    pinned = next(line.split("==")[1] for line in (root / "constraints.txt").read_text().splitlines()
                  if line.startswith("onnxruntime=="))
    dockerfile = (root / "engine_builder" / "Dockerfile.triton").read_text()
    assert f"ARG ONNXRUNTIME_GPU_VERSION={pinned}\n" in dockerfile
    assert "CUDAExecutionProvider' in ort.get_available_providers()" in dockerfile
