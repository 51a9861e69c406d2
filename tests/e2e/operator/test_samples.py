"""Every sample in manifests/samples is accepted by the API server and reconciled by the operator."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from testbed.kube import KubeClient
from testbed.operator_process import OperatorProcess
from tests.e2e.support import API

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "manifests" / "samples").glob("*.yaml"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_is_accepted_and_starts_building(kube: KubeClient, namespace: str, operator: OperatorProcess,
                                                      path: Path):
    sample = yaml.safe_load(path.read_text())
    sample["metadata"]["namespace"] = namespace
    kube.create(sample)
    name = sample["metadata"]["name"]
    obj = kube.wait_for(API, "DiffusionService", name, namespace,
                        lambda o: (o.to_dict().get("status") or {}).get("engine", {}).get("jobName"),
                        timeout=60, what="an engine build")
    assert obj.to_dict()["status"]["phase"] in ("Building", "Deploying", "Ready")
    assert kube.get("batch/v1", "Job", obj.to_dict()["status"]["engine"]["jobName"], namespace) is not None
