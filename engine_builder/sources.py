"""Resolve a plan's model source URI to a local diffusers directory, and check it is SDXL.

Every source ends as a directory on disk so export has one input shape: ``builtin://`` is written
from configs, ``pvc://`` is a mounted path, ``hf://`` is a huggingface_hub snapshot (offline from a
pre-populated cache when the hub is unreachable), ``s3://``/``gs://`` are copied with fsspec.
Failures become :class:`SourceError` messages that name the missing piece.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine_builder import sdxl_architecture
from engine_builder.errors import SourceError
from engine_builder.tiny import materialize, materialize_inpaint
from engine_builder.wiring import check_sdxl_wiring

#: The components an SDXL base pipeline must have, and the weight files each must carry.
SDXL_COMPONENTS: dict[str, tuple[str, ...]] = {
    "text_encoder": ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"),
    "text_encoder_2": ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"),
    "unet": (
        "diffusion_pytorch_model.safetensors",
        "diffusion_pytorch_model.bin",
        "diffusion_pytorch_model.safetensors.index.json",
    ),
    "vae": (
        "diffusion_pytorch_model.safetensors",
        "diffusion_pytorch_model.bin",
        "diffusion_pytorch_model.safetensors.index.json",
    ),
    "tokenizer": ("vocab.json",),
    "tokenizer_2": ("vocab.json",),
    "scheduler": ("scheduler_config.json",),
}
#: What a hub snapshot downloads: configs, tokenizers and full-precision weights, no variants/extras.
HF_ALLOW_PATTERNS = [
    "model_index.json",
    "scheduler/*",
    "tokenizer/*",
    "tokenizer_2/*",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "text_encoder_2/config.json",
    "text_encoder_2/model.safetensors",
    "text_encoder_2/model.safetensors.index.json",
    "text_encoder_2/model-*.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.safetensors.index.json",
    "unet/diffusion_pytorch_model-*.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
]
DEFAULT_PVC_ROOT = "/mnt/pvc"
#: Python package that provides each fsspec protocol (fsspec itself ships neither).
FSSPEC_BACKENDS = {"s3": "s3fs", "gs": "gcsfs"}


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source URI: ``scheme`` plus its location and optional revision."""

    scheme: str
    location: str
    revision: str | None = None


def parse_source(uri: str) -> SourceSpec:
    """Split ``scheme://location[@revision]``; only hf:// carries a revision."""
    match = re.match(r"^(builtin|pvc|hf|s3|gs)://(.+)$", uri)
    if not match:
        raise SourceError(f"source: unsupported URI {uri!r} (builtin://, pvc://, hf://, s3://, gs://)")
    scheme, rest = match.groups()
    if scheme == "hf" and "@" in rest:
        repo, revision = rest.split("@", 1)
        return SourceSpec(scheme, repo, revision)
    return SourceSpec(scheme, rest)


def pvc_path(location: str, pvc_root: Path) -> Path:
    """``pvc://<claim>/<path>`` is mounted at ``<pvc_root>/<claim>/<path>`` in the build pod."""
    path = (pvc_root / location).resolve()
    if not path.is_relative_to(pvc_root.resolve()):
        raise SourceError(f"source: pvc path {location!r} escapes the mount root {pvc_root}")
    return path


def check_sdxl_layout(directory: Path) -> None:
    """Fail with the first missing piece: not a diffusers dir, not SDXL, or missing weights."""
    index = directory / "model_index.json"
    if not index.is_file():
        raise SourceError(f"source: {directory} is not a diffusers pipeline (no model_index.json)")
    try:
        declared = json.loads(index.read_text())
    except json.JSONDecodeError as err:
        raise SourceError(f"source: {index} is not valid JSON: {err}") from err
    missing_components = [name for name in SDXL_COMPONENTS if name not in declared]
    if missing_components:
        raise SourceError(
            f"source: not an SDXL pipeline ({declared.get('_class_name', 'unknown class')}): "
            f"model_index.json lacks {', '.join(missing_components)}"
        )
    for component, candidates in SDXL_COMPONENTS.items():
        folder = directory / component
        if not any((folder / name).is_file() for name in candidates):
            raise SourceError(
                f"source: missing model files for {component}: expected {folder / candidates[0]}"
            )


def fetch_hf(repo_id: str, revision: str | None, token: str | None, cache_dir: Path | None,
             endpoint: str | None = None, allow_patterns: list[str] | None = None) -> Path:
    """Download (or reuse from cache) an SDXL snapshot; fall back to the local cache when offline.

    ``endpoint`` overrides HF_ENDPOINT (a mirror, or a dead address in tests); ``allow_patterns``
    narrows the download (default: a whole SDXL pipeline).
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    kwargs: dict[str, Any] = {
        "repo_id": repo_id,
        "revision": revision,
        "token": token,
        "allow_patterns": allow_patterns or HF_ALLOW_PATTERNS,
        "cache_dir": str(cache_dir) if cache_dir else None,
        "endpoint": endpoint,
        "etag_timeout": 5,
    }
    try:
        return Path(snapshot_download(**kwargs))
    except (RepositoryNotFoundError, GatedRepoError) as err:
        raise SourceError(
            f"source: hf://{repo_id} not found or not accessible with the given token "
            f"({type(err).__name__})"
        ) from err
    except RevisionNotFoundError as err:
        raise SourceError(f"source: revision {revision!r} of hf://{repo_id} does not exist") from err
    except LocalEntryNotFoundError as err:
        raise SourceError(
            f"source: hugging face hub unreachable and hf://{repo_id}@{revision or 'main'} is not in "
            f"the local cache ({cache_dir or 'HF_HOME'}): {str(err).splitlines()[0]}"
        ) from err
    except OSError as err:  # connection errors surface as OSError subclasses
        try:
            return Path(snapshot_download(**kwargs, local_files_only=True))
        except LocalEntryNotFoundError:
            raise SourceError(
                f"source: hugging face hub unreachable ({type(err).__name__}) and "
                f"hf://{repo_id}@{revision or 'main'} is not cached"
            ) from err


def fetch_fsspec(url: str, destination: Path) -> Path:
    """Copy a remote diffusers directory with fsspec; the protocol's backend must be installed."""
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        filesystem = fsspec.filesystem(protocol)
    except ImportError as err:
        package = FSSPEC_BACKENDS.get(protocol, f"the fsspec backend for {protocol}://")
        raise SourceError(
            f"source: {protocol}:// needs the {package} package, which is not installed in this image"
        ) from err
    remote = str(filesystem._strip_protocol(url)).rstrip("/")  # each backend normalises paths its way
    if not filesystem.exists(remote):
        raise SourceError(f"source: {url} does not exist or is not readable")
    destination.mkdir(parents=True, exist_ok=True)
    for path in filesystem.find(remote):
        relative = path.lstrip("/")[len(remote.lstrip("/")):].lstrip("/")
        if relative.split("/", 1)[0] not in {"model_index.json", *SDXL_COMPONENTS}:
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        filesystem.get_file(path, str(target))
    return destination


def resolve_source(
    uri: str,
    workdir: Path,
    *,
    token_env: str | None = None,
    pvc_root: Path | None = None,
    hf_cache: Path | None = None,
) -> Path:
    """The local diffusers directory for ``uri``, checked to be a complete SDXL pipeline."""
    spec = parse_source(uri)
    if spec.scheme == "builtin":
        if spec.location == "sdxl-architecture":
            directory = sdxl_architecture.materialize(workdir)
        elif spec.location in ("tiny-sdxl", "tiny-sdxl-random"):
            directory = materialize(workdir, trained=spec.location == "tiny-sdxl")
        else:
            raise SourceError(f"source: unknown builtin model {spec.location!r} "
                              "(tiny-sdxl, tiny-sdxl-random or sdxl-architecture)")
    elif spec.scheme == "pvc":
        root = pvc_root or Path(os.environ.get("PVC_ROOT", DEFAULT_PVC_ROOT))
        directory = pvc_path(spec.location, root)
        if not directory.is_dir():
            raise SourceError(f"source: {uri} is not mounted (looked in {directory}; set PVC_ROOT)")
    elif spec.scheme == "hf":
        token = os.environ.get(token_env) if token_env else None
        directory = fetch_hf(spec.location, spec.revision, token or None, hf_cache)
    else:
        directory = fetch_fsspec(uri, workdir / "source")
    check_sdxl_layout(directory)
    check_sdxl_wiring(directory)
    return directory


#: An inpainting source only contributes its UNet; nothing else of the checkpoint is downloaded.
UNET_ALLOW_PATTERNS = [pattern for pattern in HF_ALLOW_PATTERNS if pattern.startswith("unet/")]


def resolve_unet_source(uri: str, workdir: Path, *, token_env: str | None = None, pvc_root: Path | None = None,
                        hf_cache: Path | None = None) -> Path:
    """A directory whose ``unet/`` holds a diffusers UNet: the photoshoot's inpainting UNet.

    ``builtin://tiny-sdxl-inpaint`` is the tiny variant; hub sources fetch only ``unet/*`` (the real
    checkpoint, diffusers/stable-diffusion-xl-1.0-inpainting-0.1, shares SDXL base's text encoders
    and VAE, which come from ``plan.source``).
    """
    spec = parse_source(uri)
    if spec.scheme == "builtin":
        if spec.location == "sdxl-architecture-inpaint":
            directory = sdxl_architecture.materialize(workdir, "sdxl-architecture-inpaint")
        elif spec.location in ("tiny-sdxl-inpaint", "tiny-sdxl-inpaint-random"):
            directory = materialize_inpaint(workdir, trained=spec.location == "tiny-sdxl-inpaint")
        else:
            raise SourceError(f"inpaint source: unknown builtin model {spec.location!r} "
                              "(tiny-sdxl-inpaint, tiny-sdxl-inpaint-random or sdxl-architecture-inpaint)")
    elif spec.scheme == "pvc":
        directory = pvc_path(spec.location, pvc_root or Path(os.environ.get("PVC_ROOT", DEFAULT_PVC_ROOT)))
    elif spec.scheme == "hf":
        token = os.environ.get(token_env) if token_env else None
        directory = fetch_hf(spec.location, spec.revision, token or None, hf_cache, allow_patterns=UNET_ALLOW_PATTERNS)
    else:
        directory = fetch_fsspec(uri, workdir / "source")
    folder = directory / "unet"
    weights = any((folder / name).is_file() for name in SDXL_COMPONENTS["unet"])
    if not (folder / "config.json").is_file() or not weights:
        raise SourceError(f"inpaint source: {uri} has no diffusers UNet (expected {folder}/config.json + weights)")
    return directory
