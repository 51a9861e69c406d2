"""What the operator tells the activator about the API (``render.activator.api_args``), parsed once.

The caps arrive resolved: the operator replaces every unset cap with the service's own bound, so
the activator never needs the DiffusionService's spec; so does whether the service serves edits
(``render.activator.api_serves_edits``: the photoshoot pipeline is in ``spec.pipelines``).

The upload caps and the body deadlines are the activator's own (no flag): each is a bound on what
one request may make the activator hold, and the reason for each value is next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusion_operator.client.request import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, parse_size

Size = tuple[int, int]

#: One uploaded file (``image`` or ``mask`` of ``/v1/images/edits``): the photoshoot pipeline's own
#: limit (``PHOTOSHOOT_MAX_IMAGE_BYTES``, 20 MiB). Not a bound derived from the output sizes: the
#: pipeline pastes the product back from the original photo at output resolution (up to the largest
#: size x upscale 4), so a photo larger than the canvas is useful; a smaller cap would refuse photos
#: the service serves, a larger one would forward what Triton refuses.
MAX_UPLOAD_BYTES = MAX_IMAGE_BYTES
#: Pixels of one upload, read from its header before any pixel is decoded (a decompression bomb
#: costs nothing): the pipeline's own limit (``PHOTOSHOOT_MAX_IMAGE_PIXELS``, 16.7 MP).
MAX_UPLOAD_PIXELS = MAX_IMAGE_PIXELS
#: The text fields of a request together (a JSON body, or a form's non-file parts): two prompts of
#: 32,000 characters take at most 256 KB in UTF-8; 1 MiB leaves room without buffering much.
MAX_FIELDS_BYTES = 1024 * 1024
#: Bytes of uploads one activator replica holds at once (``limits.UploadBudget``): its 512 MiB memory
#: limit, less ~100 MiB for the process and ~150 MiB for the one photo being decoded at a time (a
#: 16.7 MP image and its mask as RGBA).
UPLOADS_IN_FLIGHT_BYTES = 256 * 1024 * 1024
#: Seconds for a JSON body to arrive whole: it is a few KB, so a client still sending after 30 s is
#: stalled or trickling on purpose. A deadline on the whole body, not an idle timeout: an idle
#: timeout lets a client send one byte per interval forever (slowloris).
BODY_TIMEOUT_S = 30.0
#: Seconds for an edit's form (up to two 20 MiB files) to arrive whole: at least ~3 Mbit/s for the
#: largest one, far below any link inside a cluster, and a bound on how long a connection and its
#: buffers are held by a client that never finishes.
UPLOAD_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SizeCaps:
    """The sizes a request may ask for: an explicit list, or every multiple of 8 inside a range."""

    smallest: Size
    largest: Size
    default: Size
    #: When set, only these (width, height); the range is then their bounding box.
    allowed: frozenset[Size] | None = None

    def admits(self, size: Size) -> bool:
        width, height = size
        if self.allowed is not None:
            return size in self.allowed
        return (width % 8 == 0 and height % 8 == 0 and self.smallest[0] <= width <= self.largest[0]
                and self.smallest[1] <= height <= self.largest[1])

    def describe(self) -> str:
        if self.allowed is not None:
            return "one of " + ", ".join(f"{w}x{h}" for w, h in sorted(self.allowed))
        (w0, h0), (w1, h1) = self.smallest, self.largest
        return f"multiples of 8 with width {w0}..{w1} and height {h0}..{h1}"

    @staticmethod
    def parse(sizes: str | None, size_range: str | None, default: str) -> SizeCaps:
        """From the activator's flags: ``--api-sizes=1024x1024,768x1344`` or ``--api-size-range=256x256-1024x1024``."""
        fallback = parse_size(default)
        if sizes:
            allowed = frozenset(parse_size(text) for text in sizes.split(","))
            smallest = (min(w for w, _ in allowed), min(h for _, h in allowed))
            largest = (max(w for w, _ in allowed), max(h for _, h in allowed))
            return SizeCaps(smallest, largest, fallback if fallback in allowed else max(allowed), allowed)
        low, _, high = (size_range or f"{default}-{default}").partition("-")
        return SizeCaps(parse_size(low), parse_size(high or low), fallback)


@dataclass(frozen=True)
class ApiSettings:
    #: The mounted Secret (``spec.api.auth.secretRef``).
    keys_dir: Path
    #: What ``GET /v1/models`` lists and ``model`` may name: the DiffusionService's name.
    model_id: str
    max_images: int
    sizes: SizeCaps
    max_steps: int
    requests_per_minute: int | None = None
    max_concurrent: int | None = None
    #: ``POST /v1/images/edits`` runs the photoshoot pipeline (``sdxl-photoshoot``); False: 404.
    edits: bool = False
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_upload_pixels: int = MAX_UPLOAD_PIXELS
    max_fields_bytes: int = MAX_FIELDS_BYTES
    uploads_in_flight_bytes: int = UPLOADS_IN_FLIGHT_BYTES
    body_timeout_s: float = BODY_TIMEOUT_S
    upload_timeout_s: float = UPLOAD_TIMEOUT_S
