"""The tiny SDXL repository that integration tests serve with a real CPU Triton, built once per builder code.

The repository is built through ``engine-builder build`` into
``~/.cache/diffusion-operator/client-tests/<builder code hash>/``; the builder's own cache makes a
rerun a hit in under a second, and a change to the builder's code rebuilds. Shared by the CLI's
tests (tests/integration/client) and the activator's API tests (tests/integration/activator).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient

from testbed.paths import REPO_ROOT, cache_root

PLAN = {"source": "builtin://tiny-sdxl", "backend": "onnxruntime", "precision": "fp16",
        "resolutions": [{"width": 256, "height": 256}], "max_batch_size": 2}


def _builder_code_hash() -> str:
    digest = hashlib.sha256()
    # Every file the builder ships, the trained weights too: new weights with unchanged code must
    # not reuse repositories built from the old ones.
    for path in sorted((REPO_ROOT / "engine_builder").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


#: The same engines plus the photoshoot pipeline (``sdxl-photoshoot``), for the API's edits: the tiny
#: inpainting UNet and the white-studio segmenter (product = channel mean below 0.9 x 255).
PHOTOSHOOT_PLAN = {**PLAN, "pipelines": ["text2image", "photoshoot"], "inpaint_source": "builtin://tiny-sdxl-inpaint",
                   "segmentation_source": "builtin://tiny-segmenter-white"}


def build_tiny_repository(plan: dict[str, object] | None = None) -> Path:
    """``PLAN``'s repository, or ``plan``'s in a folder of its own (named by its hash) under the same code hash."""
    top = cache_root() / "client-tests" / _builder_code_hash()
    for stale in top.parent.glob("*"):
        if stale != top and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    base = top if plan is None else top / hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:8]
    base.mkdir(parents=True, exist_ok=True)
    (base / "plan.json").write_text(json.dumps(plan or PLAN))
    result = subprocess.run(
        [sys.executable, "-m", "engine_builder.cli", "build", "--plan", str(base / "plan.json"),
         "--out", str(base / "cache"), "--termination-log", str(base / "termination-log")],
        capture_output=True, text=True, timeout=900, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(json.loads(result.stdout.strip().splitlines()[-1])["path"]) / "model_repository"


def warm_up(http_url: str) -> None:
    """One request per ``sdxl`` instance at once: each pays its ONNX Runtime set-up (~3 s) here, not in a test."""
    def one(seed: int) -> None:
        client = TritonClient(Endpoint(http_url))
        try:
            client.generate(ImageRequest(prompt="warm up", seed=seed, steps=1, width=64, height=64))
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=PLAN["max_batch_size"]) as pool:
        list(pool.map(one, range(PLAN["max_batch_size"])))
