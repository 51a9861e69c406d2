"""How much memory an engine build needs: the largest measured peak of what it holds at once, plus headroom.

The builder works through the components one after another (load, export, free; engine_builder/build.py),
so its peak is the peak of its largest component, not their sum, except where a stage holds them all:
int8 (and fp8 on TensorRT) calibration loads every component at once, and the photoshoot adds its
inpainting UNet to what is loaded. The figures are measured, not derived from parameter counts: an
export holds the weights, the traced graph and the protobuf being written, which no formula predicts.

Only ``MEASURED_PEAK_GIB`` carries numbers; replacing them (bench/engine_builder/realsize.py) changes
what every Job asks for and nothing else. The request is the figure plus ``HEADROOM``; the limit is
the request (see ``build_memory``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal

from diffusion_operator.api.quantity import GIB, MIB
from engine_builder.components import components_for
from engine_builder.plan import TINY_SOURCE, BuildPlan

#: "tiny" is the builtin tiny model (and its random and inpainting variants); everything else has
#: SDXL's real sizes, whatever its weights (hf://, pvc://, s3://, gs://, builtin://sdxl-architecture).
SizeClass = Literal["tiny", "sdxl"]
#: The builder's path: "tensorrt" exports fp16 ONNX on the GPU, "onnxruntime" exports fp32 on the CPU.
BuildPath = Literal["tensorrt", "onnxruntime"]
#: A component the builder exports (engine_builder.components.ComponentName), or a stage that holds
#: several at once: "calibration" (the text-to-image components loaded together for ModelOpt) and
#: "calibration_inpaint" (what the photoshoot's inpainting UNet and VAE encoder add to it).
Stage = Literal["clip", "clip2", "unetxl", "vae", "vae_encoder", "unetxl_inpaint", "calibration",
                "calibration_inpaint"]

#: Added to the measured peak. One measured run is not every run: the kubelet charges the container
#: for the page cache of the ONNX external-data files it writes (gigabytes for the UNet), the allocator
#: holds freed memory for a while, and the peak moves a few percent with library versions; 15 % covers
#: those without asking a g2-standard-8 (about 29 GiB allocatable) for more than a real build uses.
HEADROOM: Final = Decimal("0.15")

#: The export's float type per path, as the messages name it.
EXPORT_DTYPE: Final[Mapping[BuildPath, str]] = MappingProxyType({"tensorrt": "fp16", "onnxruntime": "fp32"})

# measured by bench/engine_builder/realsize.py (make realsize; bench/results/realsize.json,
# docs/real-size.md) on 2026-12-07: peak RSS in GiB of each component's load and export in build
# order (clip, clip2, unetxl, vae; one process, so a later stage includes what the allocator kept
# from an earlier one, as in the Job), per model size class and path. Not measured, and marked so:
# - the inpainting UNet (UNet-XL with 9 input channels) and the VAE encoder carry their sibling's figure;
# - the calibration rows are estimates from the weights held (all components loaded at once), and
#   "calibration_inpaint" is the inpainting UNet's weights alone (2.6 B parameters: ~5 GiB fp16, ~10 fp32);
# - the CPU path's parity check at full size (the fp32 UNet in torch and ONNX Runtime at once);
# - tiny: 2.0 rounds up the 1.1 GiB a whole tiny CPU build peaked at.
MEASURED_PEAK_GIB: Final[Mapping[tuple[SizeClass, BuildPath, Stage], Decimal]] = MappingProxyType({
    ("tiny", "tensorrt", "clip"): Decimal("2.0"),
    ("tiny", "tensorrt", "clip2"): Decimal("2.0"),
    ("tiny", "tensorrt", "unetxl"): Decimal("2.0"),
    ("tiny", "tensorrt", "vae"): Decimal("2.0"),
    ("tiny", "tensorrt", "vae_encoder"): Decimal("2.0"),
    ("tiny", "tensorrt", "unetxl_inpaint"): Decimal("2.0"),
    ("tiny", "tensorrt", "calibration"): Decimal("2.5"),
    ("tiny", "tensorrt", "calibration_inpaint"): Decimal("0.5"),
    ("tiny", "onnxruntime", "clip"): Decimal("2.0"),
    ("tiny", "onnxruntime", "clip2"): Decimal("2.0"),
    ("tiny", "onnxruntime", "unetxl"): Decimal("2.0"),
    ("tiny", "onnxruntime", "vae"): Decimal("2.0"),
    ("tiny", "onnxruntime", "vae_encoder"): Decimal("2.0"),
    ("tiny", "onnxruntime", "unetxl_inpaint"): Decimal("2.0"),
    ("tiny", "onnxruntime", "calibration"): Decimal("2.5"),
    ("tiny", "onnxruntime", "calibration_inpaint"): Decimal("0.5"),
    ("sdxl", "tensorrt", "clip"): Decimal("3.41"),
    ("sdxl", "tensorrt", "clip2"): Decimal("8.81"),
    ("sdxl", "tensorrt", "unetxl"): Decimal("7.77"),
    ("sdxl", "tensorrt", "vae"): Decimal("3.07"),
    ("sdxl", "tensorrt", "vae_encoder"): Decimal("3.07"),
    ("sdxl", "tensorrt", "unetxl_inpaint"): Decimal("7.77"),
    ("sdxl", "tensorrt", "calibration"): Decimal("18.0"),
    ("sdxl", "tensorrt", "calibration_inpaint"): Decimal("5.0"),
    ("sdxl", "onnxruntime", "clip"): Decimal("5.96"),
    ("sdxl", "onnxruntime", "clip2"): Decimal("6.14"),
    ("sdxl", "onnxruntime", "unetxl"): Decimal("14.13"),
    ("sdxl", "onnxruntime", "vae"): Decimal("7.19"),
    ("sdxl", "onnxruntime", "vae_encoder"): Decimal("7.19"),
    ("sdxl", "onnxruntime", "unetxl_inpaint"): Decimal("14.13"),
    ("sdxl", "onnxruntime", "calibration"): Decimal("24.0"),
    ("sdxl", "onnxruntime", "calibration_inpaint"): Decimal("10.0"),
})


@dataclass(frozen=True)
class BuildMemory:
    """What the build Job's container asks for, in bytes (whole MiB), and why."""

    request_bytes: int
    limit_bytes: int
    #: One line naming the figures, e.g. "sdxl unetxl fp16 export 14.0 GiB + 15 %".
    reason: str


def size_class(source: str) -> SizeClass:
    """``tiny`` for the builtin tiny model and its variants, ``sdxl`` for any other source."""
    return "tiny" if source.startswith(TINY_SOURCE) else "sdxl"


def quantizes(plan: BuildPlan) -> bool:
    """Whether the build calibrates: int8 on both paths, fp8 only on TensorRT (a CPU fp8 plan stays float).

    The builder's own rule is ``engine_builder.gating.quantizes``, which imports torch; the operator
    cannot, so it is mirrored here and a unit test holds the two together.
    """
    return plan.precision == "int8" or (plan.precision == "fp8" and plan.backend == "tensorrt")


def _peaks(plan: BuildPlan) -> list[tuple[Decimal, str]]:
    """Each stage's peak with the words that name it; the build's peak is the largest."""
    path: BuildPath = plan.backend
    main = size_class(plan.source)
    inpaint = size_class(plan.inpaint_source) if plan.inpaint_source is not None else main
    peaks = []
    for component in components_for(plan.pipelines):
        size = inpaint if component == "unetxl_inpaint" else main
        figure = MEASURED_PEAK_GIB[(size, path, component)]
        peaks.append((figure, f"{size} {component} {EXPORT_DTYPE[path]} export {figure:.1f} GiB"))
    if quantizes(plan):
        figure = MEASURED_PEAK_GIB[(main, path, "calibration")]
        words = f"{main} {plan.precision} calibration, all components loaded, {figure:.1f} GiB"
        if plan.serves("photoshoot"):
            extra = MEASURED_PEAK_GIB[(inpaint, path, "calibration_inpaint")]
            figure += extra
            words += f" + inpainting UNet {extra:.1f} GiB"
        peaks.append((figure, words))
    return peaks


def build_memory(plan: BuildPlan) -> BuildMemory:
    """The memory the build of ``plan`` asks for: the largest stage's measured peak plus ``HEADROOM``.

    The limit equals the request. Memory is not compressible: a container over its request on a full
    node is what the kubelet evicts first, and one with no limit starves its neighbours (Triton pods on
    the same node) before the kernel kills something. With limit = request the pod is Guaranteed for
    memory, and a build that outgrows its figure is OOMKilled on its own, with that reason and its
    limit in the status (``BuildOOMKilled``), so the figure can be fixed.
    """
    figure, words = max(_peaks(plan), key=lambda peak: peak[0])
    headroom = round(HEADROOM * 100)
    need = figure * (1 + HEADROOM) * GIB
    request = math.ceil(need / MIB) * MIB  # whole MiB, rounded up
    return BuildMemory(request_bytes=request, limit_bytes=request,
                       reason=f"{words} + {headroom} %")
