"""The samples in manifests/samples are valid services, and the ones a platform team copies serve the
OpenAI images API with a Secret of keys that their comments say how to create.

(The API server's own CEL checks and the operator's reconcile of every sample are the e2e test
tests/e2e/operator/test_samples.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from diffusion_operator.api.resource import parse_spec
from diffusion_operator.render.activator import activator_args, build_activator_deployment, fronted_by_activator
from diffusion_operator.render.defaults import RenderSettings

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
#: The production samples: the API on, keys from a Secret (issue 25). The demo's tiny model, the minimal
#: one, the photoshoot-only one (no text2image model for /v1/images/generations) and the NetworkPolicy
#: example (Triton reached by a gateway of its own) stay as they are.
WITH_API = {"autoscaled", "int8-l4", "h100-upscale"}


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_sample_is_one_valid_diffusion_service(path: Path) -> None:
    sample = yaml.safe_load(path.read_text())
    assert sample["kind"] == "DiffusionService"
    spec = parse_spec(sample["spec"])
    assert (spec.api is not None and spec.api.enabled) == (path.stem in WITH_API)


@pytest.mark.parametrize("name", sorted(WITH_API))
def test_an_api_sample_names_its_secret_and_says_how_to_create_it(name: str) -> None:
    text = (SAMPLES / f"{name}.yaml").read_text()
    sample = yaml.safe_load(text)
    spec = parse_spec(sample["spec"])
    assert spec.api is not None and spec.api.auth is not None
    secret = spec.api.auth.secret_ref.name
    assert f"kubectl create secret generic {secret}" in text
    assert fronted_by_activator(spec), "the API is served by the activator whatever the replica bounds"
    deployment = build_activator_deployment(sample["metadata"]["name"], "prod", spec, RenderSettings())
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("secret", {}).get("secretName") == secret for v in volumes)
    assert any(arg.startswith("--api-keys-dir=") for arg in activator_args(sample["metadata"]["name"], "prod", spec,
                                                                             RenderSettings()))
