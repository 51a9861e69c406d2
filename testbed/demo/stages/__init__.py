"""The demo's stages in order: stack (test bed, Prometheus, operator), service (sample, build, serve),
traffic (load, scale up, spread, scale down)."""
