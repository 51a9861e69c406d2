"""``python -m engine_builder.quality.curve_figure OUT.png``: the quality cost of fewer steps, as images.

The step curve the gate publishes (``status.engine.quality.curve``) is a column of numbers; this is
what they look like. Rows are the gate's default prompts, with their seeds fixing the initial latents.
Columns are step counts from the configured 30 down to 2. Each image comes from the gate's fp32
reference pipeline (diffusers, Euler, guidance 5, 64 px, the built-in trained weights). Under each
image are its SSIM and PSNR against that prompt's 30-step image (the curve's metric, where the gate's
``minStepsSsim`` is 0.80) and the scene checker's verdict on the prompt.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from engine_builder.quality.metrics import psnr, ssim
from engine_builder.quality.prompts import DEFAULT_PROMPTS
from engine_builder.quality.render import reference_renderer
from engine_builder.scenes import checker
from engine_builder.sources import resolve_source

STEP_COUNTS = (30, 20, 15, 10, 6, 4, 2)
SIZE, GUIDANCE, SHOWN = 64, 5.0, 128
CAPTION, LABEL = 30, 230


def score_row(images: list[NDArray[np.uint8]]) -> list[dict[str, float]]:
    """SSIM/PSNR of every column against the first (the configured step count)."""
    full = images[0]
    return [{"ssim": round(ssim(image, full), 3), "psnrDb": round(psnr(image, full), 1)} for image in images]


def sheet(prompts: list[str], rows: list[list[NDArray[np.uint8]]], scores: list[list[dict[str, float]]]) -> Image.Image:
    width, height = LABEL + len(STEP_COUNTS) * (SHOWN + 6), 24 + len(rows) * (SHOWN + CAPTION + 6)
    page = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    for column, steps in enumerate(STEP_COUNTS):
        draw.text((LABEL + column * (SHOWN + 6) + 40, 6), f"{steps} steps", fill=(0, 0, 0))
    for row, (prompt, images, row_scores) in enumerate(zip(prompts, rows, scores, strict=True)):
        y = 24 + row * (SHOWN + CAPTION + 6)
        draw.multiline_text((4, y + 40), prompt.replace(" on a ", "\non a ").replace(" above ", "\nabove "),
                            fill=(0, 0, 0), spacing=2)
        for column, (image, score) in enumerate(zip(images, row_scores, strict=True)):
            x = LABEL + column * (SHOWN + 6)
            page.paste(Image.fromarray(image).resize((SHOWN, SHOWN), Image.Resampling.NEAREST), (x, y))
            verdict = "scene ok" if checker.verdict(prompt, image).passed else "scene no"
            draw.multiline_text((x, y + SHOWN + 2), f"ssim {score['ssim']:.2f} {score['psnrDb']:.0f}dB\n{verdict}",
                                fill=(0, 0, 0), spacing=1)
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine_builder.quality.curve_figure", description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", default="builtin://tiny-sdxl")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        render = reference_renderer(resolve_source(args.source, Path(work)), (SIZE, SIZE), GUIDANCE)
        rows = [[render(case, steps) for steps in STEP_COUNTS] for case in DEFAULT_PROMPTS]
    scores = [score_row(images) for images in rows]
    prompts = [case.prompt for case in DEFAULT_PROMPTS]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet(prompts, rows, scores).save(args.out, optimize=True)
    worst = {steps: min(row[column]["ssim"] for row in scores) for column, steps in enumerate(STEP_COUNTS)}
    print(json.dumps({"out": str(args.out), "source": args.source, "worst_ssim_by_steps": worst}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
