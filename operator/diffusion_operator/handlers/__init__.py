"""kopf wiring only: each handler parses, calls the core, applies, and patches status.

Importing this package registers every handler with kopf's default registry.
"""

from diffusion_operator.handlers import autoscale, children, lifecycle, startup

__all__ = ["autoscale", "children", "lifecycle", "startup"]
