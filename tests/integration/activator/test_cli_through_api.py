"""``diffusion generate --api`` and ``diffusion loadtest --api`` against the real activator in front of a
real Triton serving the tiny SDXL repository: the API's image is the KServe image for the same seed,
the key comes from DIFFUSION_API_KEY and goes nowhere else, and a load test through the API reads
Triton's queue share through the activator with the same key."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diffusion_operator.activator.openai.settings import ApiSettings, SizeCaps
from diffusion_operator.client.cli import app
from diffusion_operator.client.errors import EXIT_REJECTED
from PIL import Image
from typer.testing import CliRunner

KEY = "sk-cli-integration-0123456789"


@pytest.fixture(scope="module")
def api(sdxl_activator_factory: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    keys = tmp_path_factory.mktemp("cli-api-keys")
    (keys / "cli").write_text(KEY)
    return sdxl_activator_factory(api=ApiSettings(keys_dir=keys, model_id="sdxl-tiny", max_images=2, max_steps=4,
                                                  sizes=SizeCaps.parse(None, "64x64-256x256", "256x256")))


def pixels(path: Path) -> np.ndarray[Any, Any]:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_generate_through_the_api_writes_the_kserve_image_for_the_same_seed(api: Any, tmp_path: Path) -> None:
    common = ["--url", api.http_url, "--seed", "5", "--steps", "1", "--size", "64x64"]
    through_api = CliRunner().invoke(app, ["generate", "a red circle", *common, "--api", "-o", str(tmp_path / "a.png")],
                                     env={"DIFFUSION_API_KEY": KEY})
    assert through_api.exit_code == 0, through_api.output
    kserve = CliRunner().invoke(app, ["generate", "a red circle", *common, "--api-key", KEY, "-o",
                                      str(tmp_path / "k.png")])
    assert kserve.exit_code == 0, kserve.output
    assert KEY not in through_api.output + kserve.output
    assert np.array_equal(pixels(tmp_path / "a.png"), pixels(tmp_path / "k.png"))


def test_without_the_key_both_paths_are_refused_with_exit_5(api: Any, tmp_path: Path) -> None:
    for extra in (["--api"], []):
        result = CliRunner().invoke(app, ["generate", "x", "--url", api.http_url, "--size", "64x64", *extra,
                                          "-o", str(tmp_path / "x.png")], env={"DIFFUSION_API_KEY": ""})
        assert result.exit_code != 0, result.output
        if extra:
            assert result.exit_code == EXIT_REJECTED and "invalid_api_key" in result.output


def test_loadtest_through_the_api_serves_every_request_and_reads_the_queue_share(api: Any, tmp_path: Path) -> None:
    saved = tmp_path / "load.json"
    result = CliRunner().invoke(app, ["loadtest", "--api", "--url", api.http_url, "--rate", "4", "--duration", "2",
                                      "--size", "64x64", "--steps", "1", "--sla", "30s", "--json", str(saved)],
                                env={"DIFFUSION_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    summary = json.loads(saved.read_text())["summary"]
    assert summary["requests"] == summary["succeeded"] == 8
    assert summary["queue_share"] is not None, "Triton's statistics, read through the activator with the key"
    assert KEY not in saved.read_text()
