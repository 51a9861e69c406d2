"""Autoscaler benchmark: a simulated Triton fleet replaying traces under several scalers."""
