"""Export SDXL components to ONNX with NVIDIA's tensor names, then run NVIDIA's optimisation pass.

Models over 1 GB (the real UNet, OpenCLIP bigG) go through
:mod:`engine_builder.external_data`: optimised without loading their weights, which are streamed
into one ``model.onnx.data`` file.

Export uses the TorchScript exporter (``dynamo=False``): it is deterministic and ~13x faster than
dynamo on the UNet (FACTS.md). The UNet is traced at a latent size that is not a multiple of its
up-factor (see :func:`components.export_latent_size`). The optimisation pass mirrors NVIDIA's demo:
graphsurgeon cleanup + toposort, polygraphy constant folding, ONNX shape inference.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from engine_builder.components import (
    COMPONENTS,
    UNETS,
    ComponentName,
    ComponentSpec,
    Dims,
    component_spec,
    sample_inputs,
)
from engine_builder.errors import ExportError, SourceError
from engine_builder.external_data import consolidate, externalize, has_external_data, optimize_structure
from engine_builder.wiring import read_config, wiring_errors

OPSET = 19
#: Protobuf's hard limit; larger models (the fp32 SDXL UNet is ~10 GB) keep weights as external data.
PROTOBUF_LIMIT = 2**31 - 1
#: Above this, the weights leave the graph before the optimisation pass (external_data.py) and
#: polygraphy's constant folding is skipped: folding serialises the model and runs ONNX Runtime
#: over it three times, and the pass's copies of inline weights took OpenCLIP bigG in fp16 (1.3 GB)
#: to 12 GiB of RSS. ONNX Runtime and TensorRT fold constants themselves when they load the graph.
FOLD_LIMIT = 1 << 30


@dataclass
class LoadedPipeline:
    """The torch modules to export, plus what the serving side needs from the source directory."""

    directory: Path
    modules: dict[ComponentName, Any]
    dims: Dims


def load_pipeline(directory: Path, dtype: str = "float32", device: str = "cpu",
                  components: tuple[ComponentName, ...] = COMPONENTS, inpaint: Path | None = None) -> LoadedPipeline:
    """Load the torch modules of ``components`` only (tokenizers and scheduler are copied as files).

    The sizes come from the configs, so exporting one component of the real SDXL holds that
    component's weights and no other's (the UNet alone is 5 GB in fp16). ``inpaint`` is the
    directory whose ``unet/`` is the SDXL inpainting UNet (photoshoot); the VAE encoder is the same
    VAE's encoder half.
    """
    import torch

    torch_dtype = getattr(torch, dtype)
    dims = read_dims(directory)
    loaders = {
        "clip": lambda: _load(directory, "text_encoder", torch_dtype),
        "clip2": lambda: _load(directory, "text_encoder_2", torch_dtype),
        "unetxl": lambda: _load(directory, "unet", torch_dtype),
        "vae": lambda: _load(directory, "vae", torch.float32),
        "vae_encoder": lambda: _load(directory, "vae", torch.float32),
        "unetxl_inpaint": lambda: load_inpaint_unet(inpaint, torch_dtype, dims),
    }
    modules = {name: wrap(name, loaders[name]()).to(device).eval() for name in components}
    return LoadedPipeline(directory, modules, dims)


def read_dims(directory: Path) -> Dims:
    """The component sizes from the configs, after checking SDXL's wiring (no weights are read)."""
    try:
        text1, text2, unet, vae = (read_config(directory, name) for name in ("text_encoder", "text_encoder_2",
                                                                             "unet", "vae"))
    except SourceError as err:
        raise ExportError(str(err)) from err
    errors = wiring_errors(text1, text2, unet, vae)
    if errors:
        raise ExportError(f"{directory} is not wired like SDXL: " + "; ".join(errors))
    return Dims(
        text1_hidden=text1["hidden_size"],
        text2_hidden=text2["hidden_size"],
        text2_projection=int(text2.get("projection_dim") or text2["hidden_size"]),
        max_tokens=text1["max_position_embeddings"],
        latent_channels=unet["in_channels"],
        unet_up_factor=2 ** (len(unet["block_out_channels"]) - 1),
    )


def _load(directory: Path, component: str, torch_dtype: Any) -> Any:
    import diffusers
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    models: Any = diffusers  # diffusers is untyped
    classes = {"text_encoder": CLIPTextModel, "text_encoder_2": CLIPTextModelWithProjection,
               "unet": models.UNet2DConditionModel, "vae": models.AutoencoderKL}
    # transformers' SDPA attention exports its scale as a float32 constant, which turns every layer
    # after the first attention into float32 in an fp16 export (measured: 71 of 78 CLIP weights);
    # the eager attention keeps the graph fp16 (only the softmax runs in float32, as in torch).
    options = {"attn_implementation": "eager"} if component.startswith("text_encoder") else {}
    try:
        return classes[component].from_pretrained(directory / component, torch_dtype=torch_dtype, **options)
    except (OSError, ValueError) as err:
        raise ExportError(f"loading {component} from {directory} failed: {err}") from err


def load_inpaint_unet(directory: Path | None, torch_dtype: Any, dims: Dims) -> Any:
    """The inpainting UNet, checked to fit the base pipeline: 9 input channels, same conditioning."""
    import diffusers

    if directory is None:
        raise ExportError("unetxl_inpaint: the photoshoot pipeline needs an inpainting UNet source")
    models: Any = diffusers  # diffusers is untyped
    try:
        unet = models.UNet2DConditionModel.from_pretrained(directory / "unet", torch_dtype=torch_dtype)
    except (OSError, ValueError) as err:
        raise ExportError(f"loading the inpainting UNet from {directory / 'unet'} failed: {err}") from err
    if unet.config.in_channels != dims.inpaint_channels:
        raise ExportError(f"unetxl_inpaint: in_channels is {unet.config.in_channels}, an SDXL inpainting UNet has "
                          f"{dims.inpaint_channels} (latent + mask + masked-image latent)")
    if unet.config.cross_attention_dim != dims.cross_attention or unet.config.addition_embed_type != "text_time":
        raise ExportError(f"unetxl_inpaint: cross_attention_dim {unet.config.cross_attention_dim} / "
                          f"addition_embed_type {unet.config.addition_embed_type!r} do not fit the base "
                          f"pipeline's text encoders ({dims.cross_attention}, 'text_time')")
    return unet


def wrap(name: ComponentName, module: Any) -> Any:
    """A ``torch.nn.Module`` whose positional I/O is exactly the component's NVIDIA tensors."""
    import torch

    class TextEncoder(torch.nn.Module):
        """clip: (last hidden, penultimate); clip2: (pooled projection, penultimate)."""

        def __init__(self, encoder: Any, pooled: bool) -> None:
            super().__init__()
            self.encoder, self.pooled = encoder, pooled

        def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.encoder(input_ids.to(torch.int64), output_hidden_states=True)
            first = out.text_embeds if self.pooled else out.last_hidden_state
            return first, out.hidden_states[-2]

    class UNet(torch.nn.Module):
        def __init__(self, unet: Any) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                    text_embeds: torch.Tensor, time_ids: torch.Tensor) -> torch.Tensor:
            added = {"text_embeds": text_embeds, "time_ids": time_ids}
            out: torch.Tensor = self.unet(sample, timestep, encoder_hidden_states, added_cond_kwargs=added,
                                          return_dict=False)[0]
            return out

    class VaeEncoder(torch.nn.Module):
        """images in [-1, 1] -> (mean, std) of the latent distribution, before the scaling factor.

        The pipeline draws the sample itself (``mean + std * randn``) from its seeded generator,
        exactly as diffusers' ``latent_dist.sample(generator)`` does, so results match diffusers.
        """

        def __init__(self, vae: Any) -> None:
            super().__init__()
            self.vae = vae

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            dist = self.vae.encode(images).latent_dist
            return dist.mean, dist.std

    class VaeDecoder(torch.nn.Module):
        """Takes latents already divided by the VAE scaling factor, like NVIDIA's engine."""

        def __init__(self, vae: Any) -> None:
            super().__init__()
            self.vae = vae

        def forward(self, latent: torch.Tensor) -> torch.Tensor:
            images: torch.Tensor = self.vae.decode(latent, return_dict=False)[0]
            return images

    if name in ("clip", "clip2"):
        return TextEncoder(module, pooled=name == "clip2")
    if name == "vae_encoder":
        return VaeEncoder(module)
    return UNet(module) if name in UNETS else VaeDecoder(module)


def torch_run(module: Any, spec: ComponentSpec, feeds: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Run the wrapped module on numpy feeds; returns outputs by NVIDIA name."""
    import torch

    device = next(module.parameters()).device
    args = [torch.from_numpy(feeds[t.name]).to(device) for t in spec.inputs]
    with torch.inference_mode():
        result = module(*args)
    outputs = result if isinstance(result, tuple) else (result,)
    return {t.name: o.float().cpu().numpy() for t, o in zip(spec.outputs, outputs, strict=True)}


def export_component(
    loaded: LoadedPipeline, name: ComponentName, destination: Path, latent_hw: tuple[int, int],
    float_dtype: str = "float32", opset: int = OPSET,
) -> ComponentSpec:
    """Trace one component at batch 1 and ``latent_hw``, optimise, check and save to ``destination``."""
    import onnx
    import torch

    spec = component_spec(name, loaded.dims, float_dtype)
    feeds = sample_inputs(spec, 1, *latent_hw)
    module = loaded.modules[name]
    device = next(module.parameters()).device
    args = tuple(torch.from_numpy(feeds[t.name]).to(device) for t in spec.inputs)
    dynamic_axes = {t.name: t.dynamic_axes() for t in (*spec.inputs, *spec.outputs)}
    with tempfile.TemporaryDirectory(prefix=f"export-{name}-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        try:
            # TracerWarnings flag Python-side branches (sequence length checks, up-sample sizes); the
            # ones that matter are caught by parity at other shapes, so they are only noise here.
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    module, args, str(raw), dynamo=False, opset_version=opset, do_constant_folding=True,
                    input_names=[t.name for t in spec.inputs], output_names=[t.name for t in spec.outputs],
                    dynamic_axes=dynamic_axes,
                )
        except Exception as err:  # torch raises many unrelated types from tracing
            raise ExportError(f"{name}: torch.onnx.export failed: {err}") from err
        model = onnx.load(str(raw), load_external_data=False)
        if not has_external_data(model) and model.ByteSize() >= FOLD_LIMIT:
            externalize(model, raw.parent)
        if has_external_data(model):  # over 1 GB: the weights never enter this process again
            consolidate(pin_fixed_dims(optimize_structure(model), spec), raw.parent, destination)
        else:
            save_model(pin_fixed_dims(optimize(model), spec), destination)
    try:
        onnx.checker.check_model(str(destination))
    except onnx.checker.ValidationError as err:
        raise ExportError(f"{name}: onnx.checker rejected the export: {err}") from err
    return spec


def pin_fixed_dims(model: Any, spec: ComponentSpec) -> Any:
    """Write the spec's fixed sizes into graph outputs where the exporter left a symbolic dim.

    torch's exporter names a dim it did not resolve, and without constant folding (models over
    1 GB, ``external_data.optimize_structure``) shape inference cannot resolve it either: full-size
    bigG's ``hidden_states`` came out as ``[B, Addhidden_states_dim_1, 1280]``, so the Triton config
    (77 tokens) did not match the graph. The spec is the contract both sides are written from, and
    parity runs the graph and compares its real output shapes with torch's.
    """
    expected = {tensor.name: tensor.axes for tensor in spec.outputs}
    for value in model.graph.output:
        dims = value.type.tensor_type.shape.dim
        axes = expected.get(value.name)
        if axes is None or len(axes) != len(dims):
            continue  # the repository's config check reports a missing output or a wrong rank
        for dim, axis in zip(dims, axes, strict=True):
            if isinstance(axis, int) and dim.dim_param:
                dim.dim_value = axis  # setting the value clears dim_param (a oneof)
    return model


def optimize(model: Any) -> Any:
    """NVIDIA's pass: cleanup/toposort, fold constants (ORT shape inference), cleanup, infer shapes."""
    import onnx
    import onnx_graphsurgeon as gs
    from polygraphy.backend.onnx.loader import fold_constants

    graph = gs.import_onnx(model)
    graph.cleanup().toposort()
    model = gs.export_onnx(graph)
    # ORT cannot run TensorRT's fp8 Q/DQ ops (quantize.py): polygraphy's folding then falls back to
    # writing scratch files into the working directory; TensorRT folds those graphs itself.
    tensorrt_ops = any(node.domain == "trt" for node in model.graph.node)
    if model.ByteSize() < FOLD_LIMIT and not tensorrt_ops:
        model = fold_constants(model, allow_onnxruntime_shape_inference=True)
    graph = gs.import_onnx(model)
    graph.cleanup().toposort()
    model = gs.export_onnx(graph)
    if model.ByteSize() < PROTOBUF_LIMIT:
        model = onnx.shape_inference.infer_shapes(model)
    return model


def save_model(model: Any, destination: Path) -> None:
    """Save inline when it fits protobuf, else with one external weights file next to it."""
    import onnx

    destination.parent.mkdir(parents=True, exist_ok=True)
    external = model.ByteSize() >= PROTOBUF_LIMIT
    onnx.save_model(
        model, str(destination), save_as_external_data=external, all_tensors_to_one_file=True,
        location=f"{destination.name}.data" if external else None,
    )
