"""One image, start to finish: check the endpoint, send the request, write the PNG.

Shared by ``diffusion generate`` and the demo (``testbed demo``), so the demo proves the CLI's own
code path rather than a copy of it. ``api=True`` sends it through the service's OpenAI images API
(``openai_images``) instead of KServe v2; either way ``api_key`` is the key a service with
``spec.api`` asks for. The file is written the same way: the API's PNG is decoded and written again
with the prompt and seed in its metadata.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from diffusion_operator.client.errors import ServerRejectedError, UsageError
from diffusion_operator.client.openai_images import OpenAIImagesClient
from diffusion_operator.client.png import png_metadata, write_png
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import DEFAULT_TIMEOUT_S, Endpoint, Generated, TritonClient


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
                 timeout_s: float = DEFAULT_TIMEOUT_S, *, api: bool = False, api_key: str | None = None
                 ) -> GeneratedImage:
    """Generate ``request`` at ``endpoint`` into ``output`` (default ``diffusion-<seed>.png``)."""
    request = request.validated()
    if api:
        result = generate_through_api(endpoint, request, timeout_s, api_key)
    else:
        result = _generate_kserve(endpoint, request, timeout_s, api_key)
    path = output or default_output(result.seed)
    write_png(path, result.image, png_metadata(request.prompt, result.seed,
                                               negative_prompt=request.negative_prompt, steps=request.steps))
    height, width = result.image.shape[:2]
    return GeneratedImage(path=path, seed=result.seed, seconds=result.seconds, width=width, height=height)


def _generate_kserve(endpoint: Endpoint, request: ImageRequest, timeout_s: float, api_key: str | None) -> Generated:
    client = TritonClient(endpoint, timeout_s=timeout_s, api_key=api_key)
    try:
        client.check_ready()
        return client.generate(request)
    finally:
        client.close()


def generate_through_api(endpoint: Endpoint, request: ImageRequest, timeout_s: float,
                         api_key: str | None) -> Generated:
    """One image from ``POST /v1/images/generations`` at the endpoint's HTTP address, decoded."""
    if endpoint.protocol != "http":
        raise UsageError("--api speaks HTTP: drop --protocol grpc")
    client = OpenAIImagesClient(endpoint.address, api_key, timeout_s)
    try:
        client.check_ready()
        answer = client.generate(request)
    finally:
        client.close()
    return Generated(image=_decode(answer.data), seed=answer.seed, seconds=answer.seconds, degraded=answer.degraded)


def _decode(data: bytes) -> NDArray[np.uint8]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise ServerRejectedError(f"the API's image is not readable: {err}") from err
