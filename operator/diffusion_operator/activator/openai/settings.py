"""What the operator tells the activator about the API (``render.activator.api_args``), parsed once.

The caps arrive resolved: the operator replaces every unset cap with the service's own bound, so
the activator never needs the DiffusionService's spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusion_operator.client.request import parse_size

Size = tuple[int, int]


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
