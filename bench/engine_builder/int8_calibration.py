"""int8 UNet (ModelOpt's int8 config) on the shipped tiny model: the gate's scores at several step counts.

    PYTHONPATH=operator:. python -m bench.engine_builder.int8_calibration 2 6 30

Quantizes the UNet three times: on the builder's general prompts (``quantize.CALIBRATION_PROMPTS``,
what every build uses) with every layer quantized, then with the layers ModelOpt's diffusers example
keeps in float (``quantize.UNET_FLOAT_LAYERS``, what every build does), then on 8 training-domain scene
prompts of the built-in model with that filter. Each is exported with the other three components and
scored by the quality gate with its thresholds at zero (scores only) at each step count. ModelOpt's
calibration is not deterministic, so compare rows of one run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine_builder.export import export_component, load_pipeline
from engine_builder.plan import BuildPlan
from engine_builder.quality.gate import run_gate, serving_candidate
from engine_builder.quality.render import onnx_components
from engine_builder.quality_settings import QualityGateSettings
from engine_builder.quantize import CALIBRATION_PROMPTS, kept_in_float, quantize_components
from engine_builder.repository.pipeline_files import write_pipeline_files
from engine_builder.scenes import vocabulary
from engine_builder.tiny import materialize


def every_layer(_name: str) -> bool:
    """No layer kept in float: the UNet as ModelOpt's default config alone quantizes it."""
    return False


def main(steps_list: list[int]) -> None:
    import torch

    torch.set_num_threads(1)
    size, unet_trace = 64, (7, 7)  # the gate's CPU size; the UNet traced off its up-factor like every export
    plan = BuildPlan(source="builtin://tiny-sdxl", backend="onnxruntime")
    root = Path(tempfile.mkdtemp())
    source = materialize(root / "source")
    seen = vocabulary.split(vocabulary.single_scenes() + vocabulary.pair_scenes(), held_out=False)
    domain = tuple(seen[int(i)].prompt for i in np.random.default_rng(0).permutation(len(seen))[:8])
    recipes = (("general prompts, every layer", CALIBRATION_PROMPTS, every_layer),
               ("general prompts", CALIBRATION_PROMPTS, kept_in_float),
               ("scene prompts", domain, kept_in_float))
    for label, prompts, float_layers in recipes:
        loaded = load_pipeline(source)
        started = time.monotonic()
        quantize_components(loaded, "int8", (size // 8, size // 8), ("unetxl",), prompts=prompts,
                            unet_float_layers=float_layers)
        paths = {}
        for component in ("clip", "clip2", "unetxl", "vae"):
            paths[component] = root / label / component / "model.onnx"
            export_component(loaded, component, paths[component],  # type: ignore[arg-type]
                             unet_trace if component == "unetxl" else (size // 8, size // 8))
        write_pipeline_files(root / label / "sdxl", plan, source, loaded.dims, "float32")
        for steps in steps_list:
            settings = QualityGateSettings(steps=steps, step_counts=(), image_size=size, min_psnr_db=0.0, min_ssim=0.0)
            candidate = serving_candidate(root / label / "sdxl", paths, lambda p: onnx_components(p, 1), (size, size),
                                          settings)
            scores = run_gate(settings, source, candidate).report["scores"]
            print(f"int8 UNet, {label}, {steps} steps: ssim {scores['ssim']:.3f}, psnr {scores['psnrDb']:.2f} dB "
                  f"({time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [2, 6, 30])
