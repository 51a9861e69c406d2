"""The built-in model's procedural world: vocabulary and held-out split, renderer, pixel-based checker."""
