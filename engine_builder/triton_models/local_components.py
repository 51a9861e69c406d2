"""The four components as in-process callables, for the ``sdxl_inprocess`` model (repository/execution.py).

They load the artefacts the component models would: ``model.onnx`` in an ONNX Runtime session with the
options of onnx_model.py (CPU), or the engine built for this GPU's compute capability through
polygraphy's ``TrtRunner``, the runner the builder's engine parity check uses (GPU). Copied into the
repository next to pipeline.py, so it imports nothing from ``engine_builder``.

Not run here: the TensorRT branch (no GPU with TensorRT on the development machines).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Component = Callable[[dict[str, Any]], dict[str, Any]]
COMPONENTS_FILE = "components.json"


def _ort_providers() -> Any:
    """ort_providers.py: a sibling module when the builder imports this file from ``engine_builder``,
    a file next to it in a Triton repository (execution.py copies both), where no package exists."""
    return importlib.import_module(f"{__package__}.ort_providers" if __package__ else "ort_providers")


def onnx_component(path: Path, threads: int = 0) -> Component:
    """An ORT session on the CPU; ``threads`` 0 lets ORT use every core (like onnx_model.py)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    chooser = _ort_providers()
    providers = chooser.execution_providers(ort.get_available_providers())
    session = ort.InferenceSession(str(path), options, providers=providers)
    chooser.check_providers(session, providers)
    outputs = [o.name for o in session.get_outputs()]

    def call(feeds: dict[str, Any]) -> dict[str, Any]:
        return dict(zip(outputs, session.run(outputs, feeds), strict=True))

    return call


def engine_for(engines: dict[str, str], compute_capability: str) -> str:
    """The engine built for this GPU, as Triton's ``cc_model_filenames`` would pick it."""
    if compute_capability not in engines:
        raise RuntimeError(
            f"no engine for compute capability {compute_capability}; this repository was built for {sorted(engines)}"
        )
    return engines[compute_capability]


def tensorrt_component(path: Path) -> Component:
    """A TensorRT engine with numpy in and out (polygraphy copies outputs to the host)."""
    from polygraphy.backend.common import BytesFromPath
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner

    runner = TrtRunner(EngineFromBytes(BytesFromPath(str(path))))
    runner.activate()  # held for the life of the model instance; Triton ends the process on unload

    def call(feeds: dict[str, Any]) -> dict[str, Any]:
        return {name: np.asarray(value) for name, value in runner.infer(feed_dict=feeds).items()}

    return call


def device_compute_capability(device: int) -> str:
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return f"{major}.{minor}"


def load_components(directory: Path, threads: int = 0, device: int | None = None) -> dict[str, Component]:
    """Every component listed in ``components.json``; ``device`` is the GPU of a KIND_GPU instance."""
    table: dict[str, dict[str, Any]] = json.loads((directory / COMPONENTS_FILE).read_text())
    components: dict[str, Component] = {}
    for name, entry in table.items():
        if "onnx" in entry:
            components[name] = onnx_component(directory / entry["onnx"], threads)
            continue
        if device is None:
            raise RuntimeError(f"{name}: TensorRT engines need a GPU instance (instance_group KIND_GPU)")
        import torch

        torch.cuda.set_device(device)  # the engine's CUDA context goes to the instance's GPU
        components[name] = tensorrt_component(
            directory / engine_for(entry["engines"], device_compute_capability(device))
        )
    return components
