"""Shape ranges derived from the plan: TensorRT optimisation profiles and the parity test shapes.

Pure functions of the plan, shared by the TensorRT builder (min/opt/max per input) and the ONNX
parity check (shapes inside that range, including an odd latent size).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine_builder.components import VAE_SCALE, ComponentSpec, axis_sizes
from engine_builder.plan import BuildPlan


@dataclass(frozen=True)
class LatentRange:
    """Batch and latent extents the engines must accept; ``opt`` is the plan's first resolution."""

    min_batch: int
    opt_batch: int
    max_batch: int
    min_hw: tuple[int, int]
    opt_hw: tuple[int, int]
    max_hw: tuple[int, int]


def latent_range(plan: BuildPlan) -> LatentRange:
    """Per-dimension min/max over the plan's resolutions; opt = largest (the common serving size)."""
    heights = [r.height // VAE_SCALE for r in plan.resolutions]
    widths = [r.width // VAE_SCALE for r in plan.resolutions]
    largest = max(plan.resolutions, key=lambda r: r.width * r.height)
    return LatentRange(
        min_batch=1,
        opt_batch=1,
        max_batch=plan.max_batch_size,
        min_hw=(min(heights), min(widths)),
        opt_hw=(largest.height // VAE_SCALE, largest.width // VAE_SCALE),
        max_hw=(max(heights), max(widths)),
    )


ShapeTriple = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def profile_shapes(spec: ComponentSpec, lr: LatentRange) -> dict[str, ShapeTriple]:
    """min/opt/max shape of every input of ``spec`` (what polygraphy's ``Profile.add`` takes)."""
    low = axis_sizes(lr.min_batch, *lr.min_hw)
    opt = axis_sizes(lr.opt_batch, *lr.opt_hw)
    high = axis_sizes(lr.max_batch, *lr.max_hw)
    return {t.name: (t.shape(low), t.shape(opt), t.shape(high)) for t in spec.inputs}


def parity_shapes(lr: LatentRange) -> list[tuple[int, int, int]]:
    """(batch, latent_h, latent_w) to compare ORT with torch at.

    The smallest size at batch 1; an odd latent (the up-sample trap: sizes that are not multiples of
    the UNet's up-factor must still work), inside the range when the plan spans one, else just below
    it (ONNX is fully dynamic, so ORT can still check it); and batch 2 at the largest size so a wrong
    batch axis shows. Batch stays <= 2 to keep CPU parity time bounded for real SDXL.
    """
    odd = (odd_latent(lr.min_hw[0], lr.max_hw[0]), odd_latent(lr.min_hw[1], lr.max_hw[1]))
    shapes = [(1, *lr.min_hw), (1, *odd), (min(2, lr.max_batch), *lr.max_hw)]
    return list(dict.fromkeys(shapes))


def odd_latent(low: int, high: int) -> int:
    """The first odd size in [low, high], else low - 1 (low is even then)."""
    return next((size for size in range(low, high + 1) if size % 2), low - 1)


def within(lr: LatentRange, shapes: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Only the shapes a TensorRT engine with this profile accepts."""
    return [
        (b, h, w) for b, h, w in shapes
        if lr.min_batch <= b <= lr.max_batch and lr.min_hw[0] <= h <= lr.max_hw[0] and lr.min_hw[1] <= w <= lr.max_hw[1]
    ]
