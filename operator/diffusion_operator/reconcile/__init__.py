"""Reconcile core: what the cluster looks like (observation) -> what to apply and report (decision)."""
