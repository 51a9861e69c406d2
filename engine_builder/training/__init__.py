"""Training of the built-in tiny SDXL (``make tiny-model``): procedural data, deterministic CPU stages."""
