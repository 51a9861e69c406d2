"""TensorRT engines (GPU path): profiles, builder configuration and the build call.

Everything up to ``engine_from_network`` is plain data built with polygraphy's ``Profile`` and
``CreateConfig``, which construct without TensorRT, so the exact configuration is unit-tested on
machines without a GPU. The build itself needs the ``tensorrt`` package and a CUDA device of the
plan's compute capability; without them :func:`require_tensorrt` raises
:class:`TensorRTUnavailableError` naming what is missing. Nothing here ever fakes an engine.

Precision follows TensorRT's strongly typed networks (TensorRT 11 removed the FP16/INT8/FP8 builder
flags): the ONNX carries the types. fp16 engines come from fp16 ONNX exports; int8/fp8 engines
from a UNet export whose Q/DQ nodes NVIDIA ModelOpt inserted (engine_builder/quantize.py), so no
precision flag is set for them either (:func:`quantization_mode` only records the mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine_builder.components import ComponentSpec
from engine_builder.errors import ExportError, TensorRTUnavailableError
from engine_builder.onnx_graph import onnx_io
from engine_builder.parity import ParityResult, check_parity
from engine_builder.plan import NO_TENSORRT, BuildPlan
from engine_builder.profiles import LatentRange, profile_shapes

#: NVIDIA's demo builds SDXL at level 3: higher levels add hours for a few percent.
OPTIMIZATION_LEVEL = 3
#: Workspace cap per engine; SDXL's UNet tactics fit in 8 GiB on a 24 GiB L4 with room for serving.
WORKSPACE_BYTES = 8 << 30


@dataclass(frozen=True)
class BuilderSettings:
    """The builder configuration as data (what ``CreateConfig`` receives), for tests and the manifest."""

    strongly_typed: bool
    native_instancenorm: bool
    builder_optimization_level: int
    workspace_bytes: int
    quantization: str | None


def engine_filename(component: str, tensorrt_version: str, compute_capability: float) -> str:
    """``unetxl.trt10.8.0.sm89.plan``: engines only load on the TensorRT version and SM they were built for."""
    sm = f"{compute_capability:.1f}".replace(".", "")
    return f"{component}.trt{tensorrt_version}.sm{sm}.plan"


def quantization_mode(plan: BuildPlan) -> str | None:
    """None for fp16; "int8"/"fp8" need ModelOpt Q/DQ insertion (fp8 only on SM >= 8.9, checked by the plan)."""
    return None if plan.precision == "fp16" else plan.precision


def builder_settings(plan: BuildPlan) -> BuilderSettings:
    return BuilderSettings(
        strongly_typed=True,
        native_instancenorm=True,  # GroupNorm exports as InstanceNormalization (FACTS.md)
        builder_optimization_level=OPTIMIZATION_LEVEL,
        workspace_bytes=WORKSPACE_BYTES,
        quantization=quantization_mode(plan),
    )


def build_profile(spec: ComponentSpec, lr: LatentRange) -> Any:
    """A polygraphy ``Profile`` with min/opt/max for each input of ``spec``."""
    from polygraphy.backend.trt import Profile

    profile = Profile()
    for name, (low, opt, high) in profile_shapes(spec, lr).items():
        profile.add(name, low, opt, high)
    return profile


def create_config(settings: BuilderSettings, profile: Any) -> Any:
    """polygraphy ``CreateConfig``: no precision flags (strongly typed), one profile, bounded workspace."""
    from polygraphy.backend.trt import CreateConfig

    return CreateConfig(
        profiles=[profile],
        builder_optimization_level=settings.builder_optimization_level,
        memory_pool_limits={"WORKSPACE": settings.workspace_bytes},
    )


def missing_requirements(plan: BuildPlan, installed_version: str | None, device_cc: float | None) -> list[str]:
    """Everything that stops a real build, as sentences (pure: inputs come from the probes)."""
    problems = []
    if installed_version is None:
        problems.append("the tensorrt Python package is not installed (use the builder image "
                        "nvcr.io/nvidia/tensorrt, see engine_builder/Dockerfile)")
    elif plan.tensorrt_version != NO_TENSORRT and not installed_version.startswith(plan.tensorrt_version):
        problems.append(f"the plan wants TensorRT {plan.tensorrt_version} but {installed_version} is installed")
    if device_cc is None:
        problems.append("no CUDA device is visible (torch.cuda.is_available() is False)")
    elif abs(device_cc - plan.compute_capability) > 1e-6:
        problems.append(f"the plan targets compute capability {plan.compute_capability} ({plan.gpu_type}) "
                        f"but this GPU has {device_cc}")
    if quantization_mode(plan) is not None:
        try:
            import modelopt  # noqa: F401
        except ImportError:
            problems.append(f"precision {plan.precision} needs nvidia-modelopt, which is not installed")
    return problems


def probe_tensorrt() -> str | None:
    try:
        import tensorrt
    except ImportError:
        return None
    return str(tensorrt.__version__)


def probe_device() -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(0)
    return float(f"{major}.{minor}")


def require_tensorrt(plan: BuildPlan) -> str:
    """The installed TensorRT version, or :class:`TensorRTUnavailableError` listing what is missing."""
    version = probe_tensorrt()
    problems = missing_requirements(plan, version, probe_device())
    if problems:
        raise TensorRTUnavailableError("cannot build TensorRT engines: " + "; ".join(problems))
    assert version is not None
    return version


def engine_parity(path: Path, module: Any, spec: ComponentSpec, shapes: list[tuple[int, int, int]],
                  float_dtype: str) -> list[ParityResult]:
    """Compare a built engine with torch (polygraphy ``TrtRunner``: numpy in, numpy out)."""
    from polygraphy.backend.common import BytesFromPath
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner

    with TrtRunner(EngineFromBytes(BytesFromPath(str(path)))) as runner:
        def run(feeds: dict[str, Any]) -> dict[str, Any]:
            return dict(runner.infer(feed_dict=feeds))

        return check_parity(module, spec, run, shapes, float_dtype, label="TensorRT")


def io_problems(spec: ComponentSpec, found: dict[str, tuple[str, tuple[int | str, ...]]]) -> list[str]:
    """How the exported graph's inputs and outputs differ from the component's table (names, dtypes,
    fixed dims, dynamic axes): what the profile and Triton's config are built from."""
    problems = []
    expected = {tensor.name: tensor for tensor in (*spec.inputs, *spec.outputs)}
    for name in sorted(set(found) - set(expected)):
        problems.append(f"unexpected tensor {name!r}")
    for name, tensor in expected.items():
        if name not in found:
            problems.append(f"missing tensor {name!r}")
            continue
        dtype, dims = found[name]
        if dtype != tensor.dtype:
            problems.append(f"{name}: dtype {dtype}, the profile expects {tensor.dtype}")
        if len(dims) != len(tensor.axes):
            problems.append(f"{name}: rank {len(dims)}, the profile expects {len(tensor.axes)}")
            continue
        for index, (axis, dim) in enumerate(zip(tensor.axes, dims, strict=True)):
            # A symbolic dim where the table has a number is fine: without constant folding (models
            # over 1 GB) shape inference cannot always prove 77, and the profile pins it anyway.
            if isinstance(axis, int) and isinstance(dim, int) and dim not in (axis, 0):
                problems.append(f"{name}: axis {index} is {dim}, the profile expects {axis}")
            if isinstance(axis, str) and isinstance(dim, int) and dim > 0:
                problems.append(f"{name}: axis {index} is fixed at {dim}, the profile needs it dynamic ({axis})")
    return problems


@dataclass(frozen=True)
class PreparedBuild:
    """Everything the build call receives, made and checked before TensorRT is needed."""

    settings: BuilderSettings
    profile: Any
    config: Any


def prepare_build(onnx_path: Path, spec: ComponentSpec, plan: BuildPlan, lr: LatentRange) -> PreparedBuild:
    """Check the ONNX inputs against the component table and make the profile and builder config.

    This runs on any machine, so a real-size export is proven up to the TensorRT call on CPU.
    """
    problems = io_problems(spec, onnx_io(onnx_path))
    if problems:
        raise ExportError(f"{spec.name}: the exported ONNX does not fit its TensorRT profile: " + "; ".join(problems))
    settings = builder_settings(plan)
    profile = build_profile(spec, lr)
    return PreparedBuild(settings, profile, create_config(settings, profile))


def build_engine(onnx_path: Path, spec: ComponentSpec, plan: BuildPlan, lr: LatentRange, destination: Path) -> Path:
    """Parse the ONNX as a strongly typed network and build one engine with the plan's profile."""
    prepared = prepare_build(onnx_path, spec, plan, lr)
    require_tensorrt(plan)
    import tensorrt as trt
    from polygraphy.backend.trt import engine_from_network, network_from_onnx_path, save_engine

    flags = [trt.OnnxParserFlag.NATIVE_INSTANCENORM] if prepared.settings.native_instancenorm else []
    network = network_from_onnx_path(str(onnx_path), flags=flags, strongly_typed=prepared.settings.strongly_typed)
    engine = engine_from_network(network, config=prepared.config)
    destination.parent.mkdir(parents=True, exist_ok=True)
    save_engine(engine, path=str(destination))
    return destination
