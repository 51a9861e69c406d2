"""The photoshoot's foreground segmentation (background removal) model: contract, tiny variant, sources.

A segmentation source is a directory holding ``model.onnx`` and ``segmenter.json``::

    {"input_size": [1024, 1024] | null,   # fixed H, W the model wants (null: any size, no resize)
     "mean": [0.5, 0.5, 0.5], "std": [1.0, 1.0, 1.0],   # on RGB scaled to [0, 1]
     "output": "probability" | "logits"}  # first output, [N, 1, h, w]: P(product) or its logit

so any ONNX background-removal model (U^2-Net, RMBG, BiRefNet exports) plugs in with its own
preprocessing written down next to it. The serving side thresholds the *raw* probability (no
min-max rescaling, which several reference scripts do and which would turn an empty result into
a full mask), so "no foreground found" is what the model itself says.

``builtin://tiny-segmenter`` is a small U-Net (:func:`trained_segmenter_module`) trained by
``make tiny-model`` on cluttered procedural product photos (striped or checked backgrounds, smaller
distractor shapes; :mod:`engine_builder.scenes.render`), exported with ``torch.onnx`` at a fixed
64x64 input (``input_size`` in its ``segmenter.json``; the serving side resizes).

``builtin://tiny-segmenter-white`` is a two-layer conv net whose weights are set, not trained, so
its output is a documented function of the input:
``P(product) = sigmoid(SHARPNESS * (WHITE_LEVEL - mean(r, g, b)))`` on [0, 1] RGB. At the 0.5
threshold a pixel is product exactly when its channel mean is below 0.9 * 255, i.e. it removes a
white studio background at any size. Tests draw products on white and know the true mask.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine_builder.errors import ExportError, SourceError
from engine_builder.parity import ort_session
from engine_builder.sources import DEFAULT_PVC_ROOT, parse_source, pvc_path
from engine_builder.tiny import load_weights

#: Bump when the tiny segmenters change, so cached copies are rebuilt.
TINY_SEGMENTER_VERSION = 2
#: builtin:// segmenters: the trained one and the white-studio function.
TINY_SEGMENTERS = ("tiny-segmenter", "tiny-segmenter-white")
WHITE_LEVEL = 0.9
SHARPNESS = 60.0
MODEL_FILE = "model.onnx"
CONFIG_FILE = "segmenter.json"
#: What a segmentation snapshot from the hub needs; nothing else in the repository is downloaded.
HF_ALLOW_PATTERNS = [MODEL_FILE, f"{MODEL_FILE}.data", CONFIG_FILE]


@dataclass(frozen=True)
class SegmenterConfig:
    """``segmenter.json``: how to feed the model and read its first output."""

    input_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    output: Literal["probability", "logits"] = "probability"

    @staticmethod
    def parse(raw: dict[str, Any], where: str) -> SegmenterConfig:
        try:
            size = raw.get("input_size")
            config = SegmenterConfig(
                input_size=None if size is None else (int(size[0]), int(size[1])),
                mean=tuple(float(v) for v in raw.get("mean", (0.0, 0.0, 0.0))),  # type: ignore[arg-type]
                std=tuple(float(v) for v in raw.get("std", (1.0, 1.0, 1.0))),  # type: ignore[arg-type]
                output=raw.get("output", "probability"),
            )
        except (TypeError, ValueError, IndexError) as err:
            raise SourceError(f"segmentation source: {where} is malformed: {err}") from err
        if len(config.mean) != 3 or len(config.std) != 3 or min(config.std) <= 0:
            raise SourceError(f"segmentation source: {where}: mean and std need 3 values, std > 0")
        if config.output not in ("probability", "logits"):
            raise SourceError(f"segmentation source: {where}: output must be probability or logits")
        if config.input_size is not None and min(config.input_size) < 8:
            raise SourceError(f"segmentation source: {where}: input_size {list(config.input_size)} is too small")
        return config

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["input_size"] = None if self.input_size is None else list(self.input_size)
        return raw


def tiny_segmenter() -> Any:
    """The white-studio segmenter as a ``torch.nn.Module``: [N, 3, H, W] in [0, 1] -> P(product) [N, 1, H, W]."""
    import torch

    class TinySegmenter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.brightness = torch.nn.Conv2d(3, 1, kernel_size=1)
            self.score = torch.nn.Conv2d(1, 1, kernel_size=1)
            assert self.brightness.bias is not None and self.score.bias is not None
            with torch.no_grad():
                self.brightness.weight.fill_(1.0 / 3.0)  # mean(r, g, b)
                self.brightness.bias.zero_()
                self.score.weight.fill_(-SHARPNESS)  # darker than white -> product
                self.score.bias.fill_(SHARPNESS * WHITE_LEVEL)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.score(self.brightness(image)))

    return TinySegmenter().eval()


#: The trained segmenter's fixed input side (it sees the whole photo at once, like RMBG at 1024).
TRAINED_SEGMENTER_SIZE = 64


def trained_segmenter_module() -> Any:
    """The trained tiny segmenter's network, [N, 3, 64, 64] in [0, 1] -> P(product) [N, 1, 64, 64].

    A small U-Net: two stride-2 levels and dilated convolutions at 1/4 resolution give it a view of
    most of the photo, which it needs to tell *the* product from smaller distractor shapes and a
    striped or checked background; the skip connection keeps the mask's edge sharp.
    """
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation), nn.ReLU())

    class TrainedSegmenter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(block(3, 16), block(16, 16))
            self.down = nn.Sequential(block(16, 32, stride=2), block(32, 32, stride=2), block(32, 32, dilation=2),
                                      block(32, 32, dilation=4), block(32, 32, dilation=8))
            self.up = nn.Sequential(nn.Upsample(scale_factor=4, mode="bilinear"), block(32, 16))
            self.head = nn.Sequential(block(32, 16), nn.Conv2d(16, 1, 1))

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            skip = self.stem(image)
            return torch.sigmoid(self.head(torch.cat([skip, self.up(self.down(skip))], dim=1)))

    torch.manual_seed(5)
    return TrainedSegmenter().eval()


def export_tiny_segmenter(directory: Path, name: str = "tiny-segmenter") -> Path:
    """Write ``model.onnx`` + ``segmenter.json`` of a builtin segmenter (reused when complete)."""
    import torch

    target = directory / f"{name}-v{TINY_SEGMENTER_VERSION}"
    if (target / CONFIG_FILE).exists():
        return target
    staging = directory / f".{name}-v{TINY_SEGMENTER_VERSION}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if name == "tiny-segmenter":
        model = trained_segmenter_module()
        model.load_state_dict(load_weights("segmenter"))
        side = TRAINED_SEGMENTER_SIZE
        size: tuple[int, int] | None = (side, side)
        sample = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
        axes = {"image": {0: "N"}, "foreground": {0: "N"}}
    else:
        model, size = tiny_segmenter(), None
        sample = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(0))
        axes = {"image": {0: "N", 2: "H", 3: "W"}, "foreground": {0: "N", 2: "H", 3: "W"}}
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice; it is the one we want
            torch.onnx.export(
                model,
                (sample,),
                str(staging / MODEL_FILE),
                dynamo=False,
                opset_version=19,
                input_names=["image"],
                output_names=["foreground"],
                dynamic_axes=axes,
            )
    except Exception as err:  # torch raises many unrelated types from tracing
        raise ExportError(f"segmenter: torch.onnx.export failed: {err}") from err
    config = SegmenterConfig(input_size=size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), output="probability")
    (staging / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2, sort_keys=True))
    try:
        os.replace(staging, target)
    except OSError:  # another process published the same copy first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_segmenter(
    uri: str, workdir: Path, *, token_env: str | None = None, pvc_root: Path | None = None, hf_cache: Path | None = None
) -> Path:
    """The local directory of a segmentation source, checked to hold ``model.onnx`` + ``segmenter.json``."""
    spec = parse_source(uri)
    if spec.scheme == "builtin":
        if spec.location not in TINY_SEGMENTERS:
            raise SourceError(f"segmentation source: unknown builtin model {spec.location!r} "
                              f"({' or '.join(TINY_SEGMENTERS)})")
        directory = export_tiny_segmenter(workdir, spec.location)
    elif spec.scheme == "pvc":
        directory = pvc_path(spec.location, pvc_root or Path(os.environ.get("PVC_ROOT", DEFAULT_PVC_ROOT)))
    elif spec.scheme == "hf":
        directory = fetch_hf_segmenter(spec.location, spec.revision, token_env, hf_cache)
    else:
        raise SourceError(f"segmentation source: {uri}: use builtin://, pvc:// or hf://")
    for name in (MODEL_FILE, CONFIG_FILE):
        if not (directory / name).is_file():
            raise SourceError(f"segmentation source: {uri} has no {name} (looked in {directory})")
    return directory


def fetch_hf_segmenter(repo_id: str, revision: str | None, token_env: str | None, cache_dir: Path | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    token = os.environ.get(token_env) if token_env else None
    try:
        return Path(
            snapshot_download(
                repo_id=repo_id,
                revision=revision,
                token=token or None,
                allow_patterns=HF_ALLOW_PATTERNS,
                cache_dir=cache_dir,
                etag_timeout=5,
            )
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as err:
        raise SourceError(
            f"segmentation source: hf://{repo_id}@{revision or 'main'}: {type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}"
        ) from err


def read_config(directory: Path) -> SegmenterConfig:
    path = directory / CONFIG_FILE
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SourceError(f"segmentation source: {path} is not readable JSON: {err}") from err
    if not isinstance(raw, dict):
        raise SourceError(f"segmentation source: {path} must hold a JSON object")
    return SegmenterConfig.parse(raw, str(path))


def check_segmenter(directory: Path, config: SegmenterConfig) -> dict[str, Any]:
    """Run the model once in ONNX Runtime on a sample: it must take [N, 3, H, W] and give [N, 1, h, w].

    Returns the I/O names the serving side needs. A model that cannot run here fails the build
    rather than the first request.
    """
    try:
        session = ort_session(directory / MODEL_FILE)
    except Exception as err:  # onnxruntime raises its own exception types
        raise ExportError(f"segmenter: ONNX Runtime cannot load {directory / MODEL_FILE}: {err}") from err
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ExportError(f"segmenter: expected one [N, 3, H, W] input, got {[(i.name, i.shape) for i in inputs]}")
    height, width = config.input_size or (48, 40)
    sample = np.random.default_rng(0).uniform(0, 1, size=(1, 3, height, width)).astype(np.float32)
    try:
        result = session.run([outputs[0].name], {inputs[0].name: sample})[0]
    except Exception as err:
        raise ExportError(f"segmenter: a {height}x{width} sample failed in ONNX Runtime: {err}") from err
    if result.ndim not in (3, 4) or result.shape[0] != 1 or (result.ndim == 4 and result.shape[1] != 1):
        raise ExportError(
            f"segmenter: output {outputs[0].name} has shape {list(result.shape)}, expected [N, 1, h, w] or [N, h, w]"
        )
    if not np.isfinite(result).all():
        raise ExportError("segmenter: output has NaN/Inf on a sample image")
    return {"input_name": inputs[0].name, "output_name": outputs[0].name}
