"""The exported components as data: NVIDIA's tensor names, dtypes, dynamic axes and shapes.

One table serves export (names, dynamic axes), parity (sample inputs), TensorRT profiles and the
Triton configs, so a tensor name is spelt in exactly one place. Names follow NVIDIA's TensorRT
SDXL demo (see FACTS.md) with one deliberate difference: the UNet's ``timestep`` has a batch axis
(``[2B]`` instead of ``[1]``) so Triton's dynamic batcher can merge requests that are at different
denoising steps into one UNet execution.

Everything here is pure: shapes are computed from :class:`Dims` (read from the model configs) and
``(batch, latent_h, latent_w)``.

The photoshoot pipeline adds two: ``vae_encoder`` (image -> the mean and standard deviation of the
latent distribution; the pipeline samples with its own seeded generator, exactly as diffusers does)
and ``unetxl_inpaint``, SDXL's inpainting UNet, whose ``sample`` has 9 channels: latent + mask +
masked-image latent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

ComponentName = Literal["clip", "clip2", "unetxl", "vae", "vae_encoder", "unetxl_inpaint"]
#: The text-to-image components.
COMPONENTS: tuple[ComponentName, ...] = ("clip", "clip2", "unetxl", "vae")
#: The photoshoot (inpainting) pipeline's components; clip, clip2 and vae are shared with text-to-image.
PHOTOSHOOT_COMPONENTS: tuple[ComponentName, ...] = ("clip", "clip2", "vae", "vae_encoder", "unetxl_inpaint")
#: Components whose torch module is a UNet (traced at a latent size off the up-factor, batch 2B).
UNETS: tuple[ComponentName, ...] = ("unetxl", "unetxl_inpaint")
#: SDXL's VAE scale: one latent pixel per 8x8 image pixels.
VAE_SCALE = 8


@dataclass(frozen=True)
class Dims:
    """The sizes that differ between real SDXL (768/1280/1280) and the tiny model."""

    text1_hidden: int = 768
    text2_hidden: int = 1280
    text2_projection: int = 1280
    max_tokens: int = 77
    latent_channels: int = 4
    time_ids: int = 6
    #: 2 ** (number of UNet down-samplings); exporting at a multiple of it bakes in fixed Resizes.
    unet_up_factor: int = 4

    @property
    def cross_attention(self) -> int:
        return self.text1_hidden + self.text2_hidden

    @property
    def inpaint_channels(self) -> int:
        """The inpainting UNet's input: noisy latent + 1 mask channel + masked-image latent."""
        return 2 * self.latent_channels + 1


def components_for(pipelines: tuple[str, ...]) -> tuple[ComponentName, ...]:
    """Every component the given pipelines need, each once, in build order."""
    wanted: list[ComponentName] = []
    for pipeline, names in (("text2image", COMPONENTS), ("photoshoot", PHOTOSHOOT_COMPONENTS)):
        if pipeline in pipelines:
            wanted.extend(name for name in names if name not in wanted)
    return tuple(wanted)


@dataclass(frozen=True)
class TensorSpec:
    """One ONNX input/output: its name, numpy dtype and axis names (str = dynamic, int = fixed)."""

    name: str
    dtype: str
    axes: tuple[str | int, ...]

    def shape(self, sizes: dict[str, int]) -> tuple[int, ...]:
        return tuple(sizes[axis] if isinstance(axis, str) else axis for axis in self.axes)

    def dynamic_axes(self) -> dict[int, str]:
        return {index: axis for index, axis in enumerate(self.axes) if isinstance(axis, str)}


@dataclass(frozen=True)
class ComponentSpec:
    name: ComponentName
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    #: The axis that Triton batches on (the first axis of every tensor).
    batch_axis: str


def component_spec(name: ComponentName, dims: Dims, float_dtype: str = "float32") -> ComponentSpec:
    """NVIDIA's I/O for one component; ``float_dtype`` is float16 for TensorRT fp16 exports.

    The VAE always stays float32: SDXL's VAE overflows in fp16 (its config sets ``force_upcast``).
    """
    tokens, hidden1, hidden2 = dims.max_tokens, dims.text1_hidden, dims.text2_hidden
    if name == "clip":
        return ComponentSpec(
            name,
            (TensorSpec("input_ids", "int32", ("B", tokens)),),
            (
                TensorSpec("text_embeddings", float_dtype, ("B", tokens, hidden1)),
                TensorSpec("hidden_states", float_dtype, ("B", tokens, hidden1)),
            ),
            "B",
        )
    if name == "clip2":
        return ComponentSpec(
            name,
            (TensorSpec("input_ids", "int32", ("B", tokens)),),
            (
                TensorSpec("text_embeddings", float_dtype, ("B", dims.text2_projection)),
                TensorSpec("hidden_states", float_dtype, ("B", tokens, hidden2)),
            ),
            "B",
        )
    if name in UNETS:
        latent = ("2B", dims.latent_channels, "H", "W")
        channels = dims.inpaint_channels if name == "unetxl_inpaint" else dims.latent_channels
        return ComponentSpec(
            name,
            (
                TensorSpec("sample", float_dtype, ("2B", channels, "H", "W")),
                TensorSpec("timestep", "float32", ("2B",)),
                TensorSpec("encoder_hidden_states", float_dtype, ("2B", tokens, dims.cross_attention)),
                TensorSpec("text_embeds", float_dtype, ("2B", dims.text2_projection)),
                TensorSpec("time_ids", float_dtype, ("2B", dims.time_ids)),
            ),
            (TensorSpec("latent", float_dtype, latent),),
            "2B",
        )
    latent_b = ("B", dims.latent_channels, "H", "W")
    if name == "vae_encoder":
        return ComponentSpec(
            name,
            (TensorSpec("images", "float32", ("B", 3, "8H", "8W")),),
            (TensorSpec("latent_mean", "float32", latent_b), TensorSpec("latent_std", "float32", latent_b)),
            "B",
        )
    return ComponentSpec(
        name,
        (TensorSpec("latent", "float32", latent_b),),
        (TensorSpec("images", "float32", ("B", 3, "8H", "8W")),),
        "B",
    )


def axis_sizes(batch: int, latent_h: int, latent_w: int) -> dict[str, int]:
    """Values of the named axes for one pipeline batch (the UNet sees 2B with guidance)."""
    return {
        "B": batch,
        "2B": 2 * batch,
        "H": latent_h,
        "W": latent_w,
        "8H": VAE_SCALE * latent_h,
        "8W": VAE_SCALE * latent_w,
    }


def sample_inputs(
    spec: ComponentSpec, batch: int, latent_h: int, latent_w: int, seed: int = 0
) -> dict[str, NDArray[Any]]:
    """Deterministic, plausible inputs: token ids in vocab range, timesteps in [0, 1000)."""
    rng = np.random.default_rng(seed)
    sizes = axis_sizes(batch, latent_h, latent_w)
    feeds: dict[str, NDArray[Any]] = {}
    for tensor in spec.inputs:
        shape = tensor.shape(sizes)
        if tensor.name == "input_ids":
            feeds[tensor.name] = rng.integers(0, 500, size=shape).astype(np.int32)
        elif tensor.name == "timestep":
            feeds[tensor.name] = rng.uniform(0, 999, size=shape).astype(np.float32)
        elif tensor.name == "images":  # decoded pixels live in [-1, 1]
            feeds[tensor.name] = rng.uniform(-1, 1, size=shape).astype(tensor.dtype)
        elif tensor.name == "time_ids":
            feeds[tensor.name] = np.tile(
                np.array([8 * latent_h, 8 * latent_w, 0, 0, 8 * latent_h, 8 * latent_w], dtype=tensor.dtype),
                (shape[0], 1),
            )
        else:
            feeds[tensor.name] = rng.standard_normal(size=shape).astype(tensor.dtype)
    return feeds


def export_latent_size(latent: int, up_factor: int) -> int:
    """A latent size for tracing that is NOT a multiple of the UNet's up-factor.

    At a multiple, diffusers up-samples with a constant scale and the traced graph only fits sizes
    that are multiples too (odd latents then fail at the skip concat). Off the multiple, the Resize
    takes its size from the skip tensor's shape, which stays dynamic. NVIDIA subtracts 8 px likewise.
    """
    return latent - 1 if latent % up_factor == 0 else latent


#: The largest latent side traced at export. Tracing runs one forward pass at that size, and the
#: graph is the same at any size off the up-factor (every spatial axis is dynamic), so the real
#: UNet is traced at 31x31 instead of 127x127: measured here, that is the difference between
#: seconds and many minutes of fp16 convolutions on a CPU, and gigabytes of activations.
TRACE_LATENT_CAP = 32


def trace_latent_size(latent: int, up_factor: int) -> int:
    """The latent side to trace a component at: capped (see :data:`TRACE_LATENT_CAP`), off the up-factor."""
    return export_latent_size(min(latent, TRACE_LATENT_CAP), up_factor)
