"""The only package that talks to the Kubernetes API server (the operator's edge)."""
