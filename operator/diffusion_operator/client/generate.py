"""One image, start to finish: check the endpoint, send the request, write the PNG.

Shared by ``diffusion generate`` and the demo (``testbed demo``), so the demo proves the CLI's own
code path rather than a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusion_operator.client.png import png_metadata, write_png
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import DEFAULT_TIMEOUT_S, Endpoint, TritonClient


@dataclass(frozen=True)
class GeneratedImage:
    path: Path
    seed: int
    seconds: float
    width: int
    height: int


def default_output(seed: int) -> Path:
    return Path(f"diffusion-{seed}.png")


def generate_png(endpoint: Endpoint, request: ImageRequest, output: Path | None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> GeneratedImage:
    """Generate ``request`` at ``endpoint`` into ``output`` (default ``diffusion-<seed>.png``)."""
    request = request.validated()
    client = TritonClient(endpoint, timeout_s=timeout_s)
    try:
        client.check_ready()
        result = client.generate(request)
    finally:
        client.close()
    path = output or default_output(result.seed)
    write_png(path, result.image, png_metadata(request.prompt, result.seed,
                                               negative_prompt=request.negative_prompt, steps=request.steps))
    height, width = result.image.shape[:2]
    return GeneratedImage(path=path, seed=result.seed, seconds=result.seconds, width=width, height=height)
