"""A build Job's event reaches every service using it: its owners and the followers found by engine key."""

from __future__ import annotations

import asyncio

import kopf
from diffusion_operator.handlers.lifecycle import build_users, services_by_engine_key
from diffusion_operator.handlers.workqueue import OwnerKey

KEY = "k-1234"


def job(owners: list[str], key: str | None = KEY) -> dict:
    labels = {"diffusion.dev/engine-key": key} if key else {}
    return {"metadata": {"namespace": "prod", "name": f"build-{key}", "labels": labels, "ownerReferences": [
        {"apiVersion": "diffusion.dev/v1alpha1", "kind": "DiffusionService", "name": name, "uid": f"uid-{name}"}
        for name in owners]}}


def indexed(name: str, key: str | None, namespace: str = "prod") -> dict:
    status = kopf.Body({"status": {"engine": {"cacheKey": key}} if key else {}}).status
    return asyncio.run(services_by_engine_key(namespace=namespace, name=name, uid=f"uid-{name}", status=status)) or {}


def test_followers_are_found_by_the_engine_key_they_asked_for() -> None:
    index: dict = {}
    for name, key, namespace in [("a", KEY, "prod"), ("f1", KEY, "prod"), ("f2", KEY, "prod"),
                                 ("other-key", "k-9", "prod"), ("other-ns", KEY, "dev"), ("new", None, "prod")]:
        for entry, value in indexed(name, key, namespace).items():
            index.setdefault(entry, []).append(value)
    users = build_users(job(["a"]), index)
    assert users == {OwnerKey("prod", name, f"uid-{name}") for name in ("a", "f1", "f2")}


def test_a_job_without_an_engine_key_label_reaches_only_its_owners() -> None:
    index = {("prod", KEY): [OwnerKey("prod", "f1", "uid-f1")]}
    assert build_users(job(["a"], key=None), index) == {OwnerKey("prod", "a", "uid-a")}


def test_a_service_that_has_not_reconciled_yet_is_not_indexed() -> None:
    assert indexed("fresh", None) == {}
