"""Which ONNX Runtime execution provider a component runs on: CUDA on a GPU pod, else the CPU.

A cluster without a TensorRT build still serves on its GPUs: the GPU serving image installs the
``onnxruntime-gpu`` wheel, whose CUDA execution provider runs the same ONNX the CPU path runs
(fp16 graphs at full speed; ORT's CPU kernels mostly lack fp16). ``ORT_EXECUTION_PROVIDER``
(``auto``, ``cuda``, ``cpu``) overrides the choice: ``cuda`` fails loudly where CUDA is missing
instead of falling back to a CPU that would take minutes per image. Copied next to every model that
opens an ORT session (onnx_model.py, local_components.py), so it imports nothing from
``engine_builder``.
"""

from __future__ import annotations

import os
from typing import Any

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def execution_providers(available: list[str], device_id: int = 0, requested: str | None = None) -> list[Any]:
    """ORT's ``providers`` argument: CUDA first (with its device) when available, the CPU last."""
    choice = (requested or os.environ.get("ORT_EXECUTION_PROVIDER") or "auto").lower()
    if choice not in ("auto", "cuda", "cpu"):
        raise ValueError(f"ORT_EXECUTION_PROVIDER must be auto, cuda or cpu, not {choice!r}")
    if choice == "cpu" or (choice == "auto" and CUDA not in available):
        return [CPU]
    if CUDA not in available:
        raise RuntimeError(f"ORT_EXECUTION_PROVIDER=cuda but this onnxruntime has only {available} "
                           "(the GPU serving image installs onnxruntime-gpu)")
    return [(CUDA, {"device_id": device_id}), CPU]


def check_providers(session: Any, wanted: list[Any]) -> None:
    """ORT falls back to the CPU when CUDA fails to start; a GPU pod must say so, not serve slowly."""
    if wanted[0] != CPU and CUDA not in session.get_providers():
        raise RuntimeError(f"ONNX Runtime could not start CUDA (session providers: {session.get_providers()}); "
                           "check the pod's GPU, driver and CUDA libraries, or set ORT_EXECUTION_PROVIDER=cpu")
