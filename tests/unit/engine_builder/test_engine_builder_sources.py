"""Model sources: URI parsing, pvc mapping, SDXL layout checks, hub (offline) and fsspec copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine_builder import sdxl_architecture, sources
from engine_builder.errors import SourceError
from engine_builder.sources import (
    SDXL_COMPONENTS,
    check_sdxl_layout,
    fetch_fsspec,
    fetch_hf,
    parse_source,
    pvc_path,
    resolve_source,
)
from tests.builder_extra import builder_module

DEAD_HUB = "http://127.0.0.1:9"


#: SDXL base's component configs: the wiring check reads them before any weight.
CONFIGS = {"text_encoder": sdxl_architecture.text_encoder_config(),
           "text_encoder_2": sdxl_architecture.text_encoder_2_config(),
           "unet": sdxl_architecture.unet_config(), "vae": sdxl_architecture.vae_config()}


def fake_sdxl(root: Path, skip: str | None = None, no_weights: str | None = None,
              unet: dict[str, object] | None = None) -> Path:
    """A directory with SDXL's layout, its configs and empty weight files (checks never read weights)."""
    index = {"_class_name": "StableDiffusionXLPipeline"}
    for component, files in SDXL_COMPONENTS.items():
        if component == skip:
            continue
        index[component] = ["x", "y"]
        (root / component).mkdir(parents=True, exist_ok=True)
        if component != no_weights:
            (root / component / files[0]).write_text("{}")
        if component in CONFIGS:
            config = {**CONFIGS[component], **(unet or {})} if component == "unet" else CONFIGS[component]
            (root / component / "config.json").write_text(json.dumps(config))
    root.mkdir(parents=True, exist_ok=True)
    (root / "model_index.json").write_text(json.dumps(index))
    return root


@pytest.mark.parametrize(
    ("uri", "scheme", "location", "revision"),
    [
        ("hf://stabilityai/sdxl@v1.0", "hf", "stabilityai/sdxl", "v1.0"),
        ("hf://stabilityai/sdxl", "hf", "stabilityai/sdxl", None),
        ("pvc://models/sdxl/base", "pvc", "models/sdxl/base", None),
        ("s3://bucket/sdxl", "s3", "bucket/sdxl", None),
        ("builtin://tiny-sdxl", "builtin", "tiny-sdxl", None),
        ("builtin://sdxl-architecture", "builtin", "sdxl-architecture", None),
    ],
)
def test_source_uris_parse_into_scheme_location_and_revision(uri, scheme, location, revision):
    spec = parse_source(uri)
    assert (spec.scheme, spec.location, spec.revision) == (scheme, location, revision)


def test_a_pvc_path_maps_under_the_mount_root_and_cannot_escape_it(tmp_path: Path):
    assert pvc_path("models/sdxl", tmp_path) == tmp_path / "models" / "sdxl"
    with pytest.raises(SourceError, match="escapes"):
        pvc_path("models/../../etc", tmp_path)


def test_a_complete_sdxl_layout_passes(tmp_path: Path):
    check_sdxl_layout(fake_sdxl(tmp_path / "m"))


def test_a_pipeline_without_a_second_text_encoder_is_not_sdxl(tmp_path: Path):
    with pytest.raises(SourceError, match=r"not an SDXL pipeline.*text_encoder_2"):
        check_sdxl_layout(fake_sdxl(tmp_path / "sd15", skip="text_encoder_2"))


def test_missing_weights_name_the_file_expected(tmp_path: Path):
    with pytest.raises(SourceError, match=r"missing model files for unet: expected .*unet/diffusion_pytorch_model"):
        check_sdxl_layout(fake_sdxl(tmp_path / "m", no_weights="unet"))


def test_a_directory_that_is_not_diffusers_says_so(tmp_path: Path):
    with pytest.raises(SourceError, match=r"no model_index\.json"):
        check_sdxl_layout(tmp_path)


def test_a_pvc_source_resolves_through_the_mount_root(tmp_path: Path):
    fake_sdxl(tmp_path / "claim" / "sdxl")
    assert resolve_source("pvc://claim/sdxl", tmp_path / "work", pvc_root=tmp_path) == tmp_path / "claim" / "sdxl"


def hf_cache_with(cache: Path, repo: str, revision: str) -> Path:
    """A huggingface_hub cache as snapshot_download leaves it: refs/<rev> -> snapshots/<commit>."""
    commit = "c" * 40
    folder = cache / f"models--{repo.replace('/', '--')}"
    fake_sdxl(folder / "snapshots" / commit)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / revision).write_text(commit)
    return folder / "snapshots" / commit


HUB = "hf:// sources are fetched with huggingface_hub"


def test_an_unreachable_hub_with_a_prepopulated_cache_works_offline(tmp_path: Path):
    builder_module("huggingface_hub", HUB)
    snapshot = hf_cache_with(tmp_path, "stabilityai/sdxl", "main")
    assert fetch_hf("stabilityai/sdxl", "main", None, tmp_path, endpoint=DEAD_HUB) == snapshot
    check_sdxl_layout(snapshot)


def test_an_unreachable_hub_without_a_cached_revision_is_a_clear_error(tmp_path: Path):
    builder_module("huggingface_hub", HUB)
    hf_cache_with(tmp_path, "stabilityai/sdxl", "main")
    with pytest.raises(SourceError, match=r"hub unreachable and hf://stabilityai/sdxl@v2 is not in the local cache"):
        fetch_hf("stabilityai/sdxl", "v2", None, tmp_path, endpoint=DEAD_HUB)


FSSPEC = "object-store sources are fetched with fsspec"


def test_an_s3_source_without_s3fs_names_the_missing_package(tmp_path: Path):
    builder_module("fsspec", FSSPEC)
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - environment dependent
        pytest.skip("s3fs is installed here")
    with pytest.raises(SourceError, match="s3:// needs the s3fs package"):
        fetch_fsspec("s3://bucket/sdxl", tmp_path)


def test_an_fsspec_source_copies_only_the_pipeline_files(tmp_path: Path):
    fsspec = builder_module("fsspec", FSSPEC)

    memory = fsspec.filesystem("memory")
    fake_sdxl(tmp_path / "remote")
    (tmp_path / "remote" / "sd_xl_base.safetensors").write_text("single-file checkpoint, not needed")
    memory.put(str(tmp_path / "remote"), "/bucket/sdxl", recursive=True)
    local = fetch_fsspec("memory://bucket/sdxl", tmp_path / "local")
    check_sdxl_layout(local)
    assert not (local / "sd_xl_base.safetensors").exists()
    with pytest.raises(SourceError, match="does not exist"):
        fetch_fsspec("memory://bucket/missing", tmp_path / "other")


def test_an_unknown_builtin_model_is_rejected(tmp_path: Path):
    with pytest.raises(SourceError, match="unknown builtin"):
        resolve_source("builtin://huge-sdxl", tmp_path)


def test_the_hub_token_comes_from_the_env_var_the_plan_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen = {}

    def fake_fetch(repo: str, revision: str | None, token: str | None, cache: Path | None) -> Path:
        seen.update(repo=repo, revision=revision, token=token)
        return fake_sdxl(tmp_path / "snapshot")

    monkeypatch.setattr(sources, "fetch_hf", fake_fetch)
    monkeypatch.setenv("MY_HF_TOKEN", "hf_secret")
    resolve_source("hf://org/sdxl@v1", tmp_path, token_env="MY_HF_TOKEN")
    assert seen == {"repo": "org/sdxl", "revision": "v1", "token": "hf_secret"}


def test_a_source_wired_unlike_sdxl_fails_before_any_weight_is_read(tmp_path: Path):
    fake_sdxl(tmp_path / "claim" / "sd15", unet={"cross_attention_dim": 768, "addition_embed_type": None})
    with pytest.raises(SourceError, match=r"not wired like SDXL: unet.addition_embed_type .*unet.cross_attention_dim"):
        resolve_source("pvc://claim/sd15", tmp_path / "work", pvc_root=tmp_path)
