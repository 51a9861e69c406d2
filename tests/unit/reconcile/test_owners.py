"""Who uses a child: the owners by reference, the followers of a shared build by engine key, the slots."""

from __future__ import annotations

import pytest
from diffusion_operator.api.resource import ServiceRef
from diffusion_operator.reconcile.observation import JobState
from diffusion_operator.reconcile.owners import (
    MAX_BUILD_OWNERS,
    build_users,
    engine_key_index_entry,
    joins_build_owners,
    owners_of,
)

KEY = "k-1234"


def job(owners: list[str], key: str | None = KEY) -> dict:
    labels = {"diffusion.dev/engine-key": key} if key else {}
    return {"metadata": {"namespace": "prod", "name": f"build-{key}", "labels": labels, "ownerReferences": [
        {"apiVersion": "diffusion.dev/v1alpha1", "kind": "DiffusionService", "name": name, "uid": f"uid-{name}"}
        for name in owners]}}


def indexed(name: str, key: str | None, namespace: str = "prod") -> dict:
    status = {"engine": {"cacheKey": key}} if key else {}
    return engine_key_index_entry(namespace, ServiceRef(namespace, name, f"uid-{name}"), status) or {}


def test_followers_are_found_by_the_engine_key_they_asked_for() -> None:
    index: dict = {}
    for name, key, namespace in [("a", KEY, "prod"), ("f1", KEY, "prod"), ("f2", KEY, "prod"),
                                 ("other-key", "k-9", "prod"), ("other-ns", KEY, "dev"), ("new", None, "prod")]:
        for entry, value in indexed(name, key, namespace).items():
            index.setdefault(entry, []).append(value)
    users = build_users(job(["a"]), index)
    assert users == {ServiceRef("prod", name, f"uid-{name}") for name in ("a", "f1", "f2")}


def test_a_job_without_an_engine_key_label_reaches_only_its_owners() -> None:
    index = {("prod", KEY): [ServiceRef("prod", "f1", "uid-f1")]}
    assert build_users(job(["a"], key=None), index) == {ServiceRef("prod", "a", "uid-a")}


def test_a_service_that_has_not_reconciled_yet_is_not_indexed() -> None:
    assert indexed("fresh", None) == {}


def test_only_diffusion_service_owners_count() -> None:
    child = job(["a"])
    child["metadata"]["ownerReferences"].append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                                 "uid": "uid-rs"})
    assert owners_of(child) == [ServiceRef("prod", "a", "uid-a")]


@pytest.mark.parametrize(("phase", "owners", "joins"), [
    ("Running", {"other"}, True),  # another service's build: join it
    ("Running", {"u1"}, False),  # already an owner
    ("Succeeded", {f"other-{i}" for i in range(MAX_BUILD_OWNERS - 1)}, True),  # the last slot
    ("Running", {f"other-{i}" for i in range(MAX_BUILD_OWNERS)}, False),  # full: follow it
    ("Missing", set(), False),  # a missing build is created, not joined
])
def test_a_service_joins_a_build_while_it_has_a_free_owner_slot(phase: str, owners: set[str], joins: bool) -> None:
    assert joins_build_owners(JobState("engine-k", phase, owner_uids=frozenset(owners)), "u1") is joins  # type: ignore[arg-type]
