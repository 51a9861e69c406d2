"""ONNX Runtime vs PyTorch parity: the build fails when an export computes something else.

Tolerance: ``max|ort - torch| <= ATOL + RTOL * max|torch|`` per output. fp32 exports measure
~2e-5 on the tiny model (FACTS.md); the bound leaves room for real SDXL's larger activations while
still catching a wrong graph (a baked-in Resize or a dropped input shows up as O(1) error or a
shape failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from engine_builder.components import ComponentSpec, sample_inputs
from engine_builder.errors import ParityError

ATOL = {"float32": 1e-4, "float16": 1e-2}
RTOL = {"float32": 1e-3, "float16": 1e-2}


@dataclass(frozen=True)
class ParityResult:
    component: str
    shape: tuple[int, int, int]
    max_abs_error: float
    bound: float

    @property
    def ok(self) -> bool:
        return self.max_abs_error <= self.bound


def compare(
    component: str, shape: tuple[int, int, int], expected: dict[str, NDArray[Any]],
    actual: dict[str, NDArray[Any]], float_dtype: str = "float32",
) -> ParityResult:
    """Worst output error against the bound; pure so the tolerance rule has table tests."""
    measured: list[tuple[float, float]] = []
    for name, reference in expected.items():
        got = actual[name]
        if got.shape != reference.shape:
            raise ParityError(f"{component} {name}: ORT shape {got.shape} != torch {reference.shape} at {shape}")
        error = float(np.max(np.abs(got.astype(np.float64) - reference)))
        limit = ATOL[float_dtype] + RTOL[float_dtype] * float(np.max(np.abs(reference)))
        measured.append((error, limit))
    worst, bound = max(measured, key=lambda pair: pair[0] / pair[1])
    return ParityResult(component, shape, worst, bound)


def ort_session(path: Path, threads: int = 0) -> Any:
    """A CPU ONNX Runtime session (``threads=0`` lets ORT pick)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_parity(
    module: Any, spec: ComponentSpec, onnx_path: Path, shapes: list[tuple[int, int, int]],
    float_dtype: str = "float32",
) -> list[ParityResult]:
    """Run ORT and torch at every shape; raise :class:`ParityError` on the first failure."""
    from engine_builder.export import torch_run

    session = ort_session(onnx_path)
    results = []
    for index, shape in enumerate(shapes):
        feeds = sample_inputs(spec, *shape, seed=index + 1)
        expected = torch_run(module, spec, feeds)
        try:
            outputs = session.run([t.name for t in spec.outputs], feeds)
        except Exception as err:  # onnxruntime raises its own Fail/InvalidArgument types
            raise ParityError(f"{spec.name}: ONNX Runtime failed at (batch, h, w)={shape}: {err}") from err
        actual = {t.name: o for t, o in zip(spec.outputs, outputs, strict=True)}
        result = compare(spec.name, shape, expected, actual, float_dtype)
        if not result.ok:
            raise ParityError(
                f"{spec.name}: ORT vs torch max error {result.max_abs_error:.3g} > {result.bound:.3g} "
                f"at (batch, latent h, latent w)={shape}"
            )
        results.append(result)
    return results
