"""The photoshoot GPU benchmark's stages at full SDXL size run on a real GPU (skipped without one)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench" / "engine_builder"))


@pytest.mark.gpu
def test_the_full_size_inpainting_unet_and_vae_run_and_are_timed():
    import photoshoot_gpu  # noqa: PLC0415 - a bench script, importable only once sys.path holds its folder

    result = photoshoot_gpu.gpu_stages(size=512, repeats=2)
    for stage in ("unetxl_inpaint_step_b2", "vae_encoder", "vae_decoder"):
        assert math.isfinite(result[stage]["median_ms"]) and result[stage]["median_ms"] > 0
