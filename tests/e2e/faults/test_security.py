"""Security faults on the test bed: Pod Security "restricted", RBAC least privilege, Secrets only by
reference, and the optional NetworkPolicy in front of Triton.

Each check is paired with its counter-proof (a pod without the security context *is* refused, a
verb the chart does not grant *is* denied), so a permissive cluster cannot make the suite pass.
The test bed runs no CNI: NetworkPolicies are stored but not enforced, so the NetworkPolicy case
proves the object (selector, peers, ports, ownership, removal), not the packet filtering.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic.exceptions import ForbiddenError

from testbed.kube import KubeClient, condition
from testbed.operator_process import OperatorProcess
from testbed.paths import versions
from tests.e2e.support import API, HOLD, phase_is, service

CHART = Path(__file__).resolve().parents[3] / "charts" / "diffusion-operator"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
SDXL = "hf://stabilityai/stable-diffusion-xl-base-1.0@462165984030d82259a11f4367a4eed129e94a7b"
BUILDER_SA = "diffusion-engine-builder"
#: The test bed's Kubernetes version: the chart declares a kubeVersion, and helm template assumes 1.20.
KUBE_VERSION = versions()["KUBERNETES_VERSION"].lstrip("v")


# -- helpers ---------------------------------------------------------------------------------------
def helm_template(helm_binary: str, release: str, namespace: str, *sets: str) -> list[dict[str, Any]]:
    """The chart as `helm template` renders it (no cluster needed), one dict per object."""
    done = subprocess.run(
        [
            helm_binary,
            "template",
            release,
            str(CHART),
            "--namespace",
            namespace,
            "--kube-version",
            KUBE_VERSION,
            *(arg for value in sets for arg in ("--set", value)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def pod_from_template(template: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A bare Pod from a workload's pod template: Pod Security enforces on Pods, and admission runs on a
    dry run. The ServiceAccount is left out (it need not exist for Pod Security to judge the pod)."""
    spec = {key: value for key, value in template["spec"].items() if key != "serviceAccountName"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"psa-{uuid.uuid4().hex[:6]}",
            "namespace": namespace,
            "labels": template.get("metadata", {}).get("labels", {}),
        },
        "spec": spec,
    }


def dry_run_create(kube: KubeClient, manifest: dict[str, Any]) -> Any:
    """POST with dryRun=All: admission (Pod Security included) runs in full, nothing is stored."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return kube.resource(manifest["apiVersion"], manifest["kind"]).create(
                body=manifest, namespace=manifest["metadata"]["namespace"], query_params=[("dryRun", "All")]
            )
        except ForbiddenError as err:
            # The ServiceAccount admission plugin's cache sees a new namespace's "default" SA a moment late.
            if "error looking up service account" not in str(err.body) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def without_security_context(pod: dict[str, Any]) -> dict[str, Any]:
    spec = {k: v for k, v in pod["spec"].items() if k != "securityContext"}
    spec["containers"] = [{k: v for k, v in c.items() if k != "securityContext"} for c in spec["containers"]]
    return {**pod, "spec": spec}


def label_restricted(kube: KubeClient, namespace: str) -> None:
    kube.core.patch_namespace(namespace, {"metadata": {"labels": RESTRICTED}})


def service_account_user(namespace: str, name: str) -> tuple[str, list[str]]:
    return (
        f"system:serviceaccount:{namespace}:{name}",
        ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
    )


def allowed(
    kube: KubeClient,
    who: tuple[str, list[str]],
    verb: str,
    resource: str,
    *,
    group: str = "",
    namespace: str | None = None,
    subresource: str = "",
) -> bool:
    """A SubjectAccessReview: would the API server's RBAC authorizer allow this request?"""
    user, groups = who
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            groups=groups,
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, group=group, resource=resource, subresource=subresource or None, namespace=namespace
            ),
        )
    )
    answer = client.AuthorizationV1Api(kube.api_client).create_subject_access_review(review)
    return bool(answer.status.allowed)


def dump(obj: Any) -> str:
    return json.dumps(obj.to_dict() if hasattr(obj, "to_dict") else obj, default=str)


# -- (a) Pod Security "restricted" -----------------------------------------------------------------
def test_build_and_triton_pods_are_admitted_and_run_under_restricted_pod_security(
    kube: KubeClient, namespace: str, operator: OperatorProcess
):
    label_restricted(kube, namespace)
    root_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    with pytest.raises(ForbiddenError, match="violates PodSecurity"):
        dry_run_create(kube, root_pod)  # the namespace really enforces: without this the rest proves nothing

    kube.create(service("sdxl", namespace, replicas=2))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")

    [job] = kube.items("batch/v1", "Job", namespace)
    assert job.status.succeeded == 1
    assert job.spec.template.spec.automountServiceAccountToken is False
    build_pods = kube.items("v1", "Pod", namespace, label_selector=f"batch.kubernetes.io/job-name={job.metadata.name}")
    assert [p.status.phase for p in build_pods] == ["Succeeded"]
    triton = kube.items("v1", "Pod", namespace, label_selector="app.kubernetes.io/instance=sdxl")
    assert sorted(p.status.phase for p in triton) == ["Running", "Running"]
    events = kube.events_for(namespace)
    assert not [e for e in events if "FailedCreate" in e or "violates PodSecurity" in e], events


def test_the_charts_operator_pod_passes_restricted_and_fails_without_its_security_context(
    kube: KubeClient, namespace: str, helm_binary: str
):
    label_restricted(kube, namespace)
    rendered = helm_template(helm_binary, "psa", namespace, "replicaCount=2")
    templates = [doc["spec"]["template"] for doc in rendered if doc["kind"] == "Deployment"]
    templates += [{"metadata": doc["metadata"], "spec": doc["spec"]} for doc in rendered if doc["kind"] == "Pod"]
    assert len(templates) >= 1
    for template in templates:
        dry_run_create(kube, pod_from_template(template, namespace))
    with pytest.raises(ForbiddenError, match="violates PodSecurity"):
        dry_run_create(kube, without_security_context(pod_from_template(templates[0], namespace)))


# -- (b) RBAC least privilege ----------------------------------------------------------------------
#: What the operator's code calls (k8s/gateway.py, kopf): each must be allowed in a watched namespace.
OPERATOR_NEEDS: list[tuple[str, str, str, str]] = [
    # (verb, group, resource, subresource)
    *[(v, "diffusion.dev", "diffusionservices", "") for v in ("get", "list", "watch", "patch")],
    ("patch", "diffusion.dev", "diffusionservices", "status"),
    # delete: a failed build OOMKilled under less memory than a build now gets (reconcile/oom_retry.py)
    *[(v, "batch", "jobs", "") for v in ("get", "list", "watch", "create", "patch", "delete")],
    *[
        (v, "", r, "")
        for r in ("configmaps", "persistentvolumeclaims", "serviceaccounts", "services")
        for v in ("get", "create", "patch")
    ],
    ("list", "", "pods", ""),
    ("patch", "", "pods", ""),  # the pod-deletion-cost annotation before a scale-down (issue 16)
    *[(v, "apps", "deployments", "") for v in ("get", "list", "watch", "create", "patch", "delete")],
    # An activator's own Role and RoleBinding (scale to zero), deleted with it; bounded by the
    # API server's escalation check (see test_the_operator_cannot_grant_more_than_it_holds).
    *[(v, "rbac.authorization.k8s.io", r, "") for r in ("roles", "rolebindings")
      for v in ("get", "create", "patch", "delete")],
    *[(v, "policy", "poddisruptionbudgets", "") for v in ("get", "create", "patch", "delete")],
    *[(v, "networking.k8s.io", "networkpolicies", "") for v in ("get", "create", "patch", "delete")],
    *[(v, "monitoring.coreos.com", "servicemonitors", "") for v in ("get", "create", "patch")],
    ("create", "", "events", ""),
]
#: What an operator compromise must not reach: Secrets, code execution in pods, nodes, RBAC escalation,
#: token minting, the API's own definitions, workload deletion, other identities.
OPERATOR_DENIED: list[tuple[str, str, str, str]] = [
    *[(v, "", "secrets", "") for v in ("get", "list", "watch", "create", "patch", "delete")],
    ("create", "", "pods", "exec"),
    ("create", "", "pods", "attach"),
    ("create", "", "pods", "portforward"),
    ("get", "", "pods", "log"),
    ("create", "", "pods", ""),
    ("delete", "", "pods", ""),
    ("create", "", "serviceaccounts", "token"),
    ("create", "diffusion.dev", "diffusionservices", ""),
    ("delete", "diffusion.dev", "diffusionservices", ""),
    ("delete", "", "configmaps", ""),
    ("delete", "", "persistentvolumeclaims", ""),
    *[(v, "rbac.authorization.k8s.io", r, "") for r in ("roles", "rolebindings") for v in ("escalate", "bind")],
    ("create", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", ""),
]
OPERATOR_DENIED_CLUSTER: list[tuple[str, str, str, str]] = [
    ("get", "", "nodes", ""),
    ("watch", "", "nodes", ""),
    ("patch", "", "nodes", ""),
    ("delete", "", "nodes", ""),
    *[
        (v, "rbac.authorization.k8s.io", r, "")
        for r in ("clusterroles", "clusterrolebindings")
        for v in ("create", "patch", "escalate", "bind")
    ],
    *[(v, "apiextensions.k8s.io", "customresourcedefinitions", "") for v in ("create", "patch", "update", "delete")],
    ("create", "", "namespaces", ""),
    ("delete", "", "namespaces", ""),
    ("create", "", "persistentvolumes", ""),
    ("impersonate", "", "users", ""),
    ("impersonate", "", "serviceaccounts", ""),
    ("create", "certificates.k8s.io", "certificatesigningrequests", ""),
]
#: The builder runs with no token at all; if one leaked in, it must still be worth nothing.
BUILDER_DENIED: list[tuple[str, str, str, str]] = [
    *[
        (v, "", r, "")
        for r in ("pods", "secrets", "configmaps", "services", "serviceaccounts")
        for v in ("get", "list", "create")
    ],
    ("create", "", "serviceaccounts", "token"),
    ("create", "", "pods", "exec"),
    *[(v, "batch", "jobs", "") for v in ("get", "create", "delete")],
    ("get", "diffusion.dev", "diffusionservices", ""),
    ("patch", "diffusion.dev", "diffusionservices", "status"),
    ("create", "", "events", ""),
]


@pytest.fixture
def chart_rbac(kube: KubeClient, helm_binary: str, namespace: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The chart's RBAC objects (cluster-wide mode) applied under a unique release name, then removed."""
    release = f"rbac-{uuid.uuid4().hex[:6]}"
    objects = [
        doc
        for doc in helm_template(helm_binary, release, namespace)
        if doc["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    ]
    for obj in objects:
        kube.apply(obj, field_manager="e2e")
    yield release, objects
    for obj in objects:
        if obj["kind"] != "ServiceAccount":
            kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], None)


def wait_allowed(kube: KubeClient, who: tuple[str, list[str]], *request: Any, **where: Any) -> None:
    """RBAC objects reach the authorizer's cache a moment after they are written."""
    deadline = time.monotonic() + 15
    while not allowed(kube, who, *request, **where):
        assert time.monotonic() < deadline, f"{who[0]} never got {request} {where}"
        time.sleep(0.2)


def test_the_operator_may_do_what_it_needs_and_nothing_that_would_hurt(
    kube: KubeClient, namespace: str, chart_rbac: tuple[str, list[dict[str, Any]]]
):
    release, objects = chart_rbac
    [role] = [o for o in objects if o["kind"] == "ClusterRole"]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
    operator = service_account_user(namespace, f"{release}-diffusion-operator")
    wait_allowed(kube, operator, "list", "diffusionservices", group="diffusion.dev", namespace=namespace)

    missing = [
        r
        for r in OPERATOR_NEEDS
        if not allowed(kube, operator, r[0], r[2], group=r[1], subresource=r[3], namespace=namespace)
    ]
    granted = [
        r
        for r in OPERATOR_DENIED
        if allowed(kube, operator, r[0], r[2], group=r[1], subresource=r[3], namespace=namespace)
    ]
    granted += [r for r in OPERATOR_DENIED_CLUSTER if allowed(kube, operator, r[0], r[2], group=r[1], subresource=r[3])]
    assert missing == [], "the chart forgot a permission the operator uses"
    assert granted == [], "the chart grants more than the operator needs"
    assert allowed(kube, operator, "watch", "customresourcedefinitions", group="apiextensions.k8s.io")  # kopf
    # A build's GPU pool: listed (never read one by one, watched or changed) before its Job is created.
    assert allowed(kube, operator, "list", "nodes", group="")


def test_the_operator_cannot_grant_more_than_it_holds(
    kube: KubeClient, namespace: str, chart_rbac: tuple[str, list[dict[str, Any]]]
):
    """It writes its activators' Roles, so the API server's escalation check is what bounds it: a Role
    for what an activator needs is accepted, one reaching Secrets (which the operator lacks) is not."""
    release, _ = chart_rbac
    user, groups = service_account_user(namespace, f"{release}-diffusion-operator")
    wait_allowed(kube, (user, groups), "create", "roles", group="rbac.authorization.k8s.io", namespace=namespace)
    as_operator = client.ApiClient(kube.api_client.configuration)
    as_operator.set_default_header("Impersonate-User", user)
    rbac = client.RbacAuthorizationV1Api(as_operator)

    def role(name: str, group: str, resource: str) -> dict[str, Any]:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": [{"apiGroups": [group], "resources": [resource], "verbs": ["get"]}]}

    rbac.create_namespaced_role(namespace, role("activator-like", "diffusion.dev", "diffusionservices"),
                                dry_run="All")
    with pytest.raises(client.ApiException) as refused:
        rbac.create_namespaced_role(namespace, role("steal-secrets", "", "secrets"), dry_run="All")
    assert refused.value.status == 403 and "attempting to grant RBAC permissions not currently held" in str(
        refused.value.body)


def test_namespaced_mode_grants_nothing_outside_the_watched_namespaces(
    kube: KubeClient, namespace: str, helm_binary: str
):
    release, release_ns = f"ns-{uuid.uuid4().hex[:6]}", f"ops-{uuid.uuid4().hex[:6]}"
    objects = [
        doc
        for doc in helm_template(helm_binary, release, release_ns, f"watchNamespaces={{{namespace}}}")
        if doc["kind"] in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    ]
    assert sorted(o["kind"] for o in objects) == ["Role", "RoleBinding"]
    for obj in objects:
        kube.apply(obj, field_manager="e2e")
    operator = service_account_user(release_ns, f"{release}-diffusion-operator")
    wait_allowed(kube, operator, "create", "deployments", group="apps", namespace=namespace)
    other = "default"
    assert not allowed(kube, operator, "create", "deployments", group="apps", namespace=other)
    assert not allowed(kube, operator, "list", "diffusionservices", group="diffusion.dev", namespace=other)
    assert not allowed(kube, operator, "list", "diffusionservices", group="diffusion.dev")  # cluster-wide
    assert not allowed(kube, operator, "get", "secrets", namespace=namespace)


def test_the_engine_builder_identity_has_no_permissions_and_no_token(
    kube: KubeClient, namespace: str, operator: OperatorProcess
):
    kube.create(service("sdxl", namespace))
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    account = kube.get("v1", "ServiceAccount", BUILDER_SA, namespace)
    assert account.automountServiceAccountToken is False
    [job] = kube.items("batch/v1", "Job", namespace)
    assert job.spec.template.spec.serviceAccountName == BUILDER_SA
    assert job.spec.template.spec.automountServiceAccountToken is False

    builder = service_account_user(namespace, BUILDER_SA)
    granted = [
        r
        for r in BUILDER_DENIED
        if allowed(kube, builder, r[0], r[2], group=r[1], subresource=r[3], namespace=namespace)
    ]
    assert granted == []
    bindings = [
        *kube.items("rbac.authorization.k8s.io/v1", "RoleBinding", namespace),
        *kube.items("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ]
    bound = [
        b.metadata.name
        for b in bindings
        for s in (b.subjects or [])
        if s.kind == "ServiceAccount" and s.name == BUILDER_SA
    ]
    assert bound == [], "nothing may bind a role to the builder"


# -- (c) Secrets only by reference ---------------------------------------------------------------
def test_a_credentials_secret_is_only_ever_referenced_never_copied(
    kube: KubeClient, namespace: str, operator: OperatorProcess
):
    token = f"hf_{uuid.uuid4().hex}{uuid.uuid4().hex}"
    encoded = base64.b64encode(token.encode()).decode()
    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "hf-token"}, "stringData": {"token": token}})
    kube.create(
        service("sdxl", namespace, model={"source": SDXL, "credentialsSecretRef": {"name": "hf-token", "key": "token"}})
    )
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")

    [job] = kube.items("batch/v1", "Job", namespace)
    env = job.to_dict()["spec"]["template"]["spec"]["containers"][0]["env"]
    [credential] = [e for e in env if e.get("valueFrom", {}).get("secretKeyRef")]
    assert credential["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token"}
    assert credential.get("value") is None

    places = {
        "operator log": operator.log(),
        "events": dump(kube.core.list_namespaced_event(namespace)),
        "DiffusionService": dump(kube.get(API, "DiffusionService", "sdxl", namespace)),
    }
    for api_version, kind in (
        ("batch/v1", "Job"),
        ("v1", "ConfigMap"),
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("v1", "Pod"),
    ):
        places[kind] = dump([item.to_dict() for item in kube.items(api_version, kind, namespace)])
    leaked = [where for where, text in places.items() if token in text or encoded in text]
    assert leaked == [], f"the token leaked into {leaked}"


def test_a_missing_credentials_secret_is_named_in_engine_ready(
    kube: KubeClient, namespace: str, operator: OperatorProcess
):
    """The operator cannot read Secrets, so the kubelet's refusal on the build pod is the evidence. kwok
    runs no kubelet: the test plays its part and writes the status a kubelet writes for a missing Secret."""
    kube.create(
        service(
            "sdxl",
            namespace,
            model={"source": SDXL, "credentialsSecretRef": {"name": "nowhere"}},
            engine={"builderImage": HOLD},
        )
    )
    kube.wait_for(
        API,
        "DiffusionService",
        "sdxl",
        namespace,
        lambda o: (o.to_dict().get("status") or {}).get("engine", {}).get("state") == "Building",
        timeout=60,
        what="engine Building",
    )
    [pod] = kube.items("v1", "Pod", namespace, label_selector="app.kubernetes.io/name=engine-builder")
    name = pod.metadata.name
    pods = kube.resource("v1", "Pod")
    pods.patch(
        name=name,
        namespace=namespace,
        content_type="application/merge-patch+json",
        body={"metadata": {"annotations": {"kwok.x-k8s.io/status": "custom"}}},
    )  # kwok: hands off
    message = 'secret "nowhere" not found'
    pods.status.patch(
        name=name,
        namespace=namespace,
        content_type="application/merge-patch+json",
        body={
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                    {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
                ],
                "containerStatuses": [
                    {
                        "name": "builder",
                        "image": HOLD,
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "started": False,
                        "state": {"waiting": {"reason": "CreateContainerConfigError", "message": message}},
                    }
                ],
            }
        },
    )

    def secret_not_found(obj: Any) -> bool:
        return any(
            c.get("type") == "EngineReady" and c.get("reason") == "SecretNotFound"
            for c in (obj.to_dict().get("status") or {}).get("conditions") or []
        )

    obj = kube.wait_for(
        API,
        "DiffusionService",
        "sdxl",
        namespace,
        secret_not_found,
        timeout=90,
        what="EngineReady=False SecretNotFound",
    )
    [engine_ready] = [c for c in obj.to_dict()["status"]["conditions"] if c["type"] == "EngineReady"]
    assert engine_ready["status"] == "False"
    assert '"nowhere"' in engine_ready["message"]
    assert condition(obj, "Ready") != "True"
    kube.wait_for_event(namespace, "sdxl", lambda e: "Warning SecretNotFound" in e and "nowhere" in e,
                        what="Warning SecretNotFound")


# -- (d) The optional NetworkPolicy ----------------------------------------------------------------
GATEWAY = {"podSelector": {"matchLabels": {"app": "sdxl-gateway"}}}
WEB = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
    "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]},
}


def ingress(policy: Any) -> list[tuple[list[int], list[dict[str, Any]]]]:
    return [([p["port"] for p in rule["ports"]], rule["from"]) for rule in policy.to_dict()["spec"]["ingress"]]


def test_the_network_policy_admits_declared_clients_and_prometheus_and_goes_away_when_disabled(
    kube: KubeClient, namespace: str, operator: OperatorProcess
):
    kube.create(
        service("sdxl", namespace, serving={"networkPolicy": {"enabled": True, "allowedClients": [GATEWAY, WEB]}})
    )
    kube.wait_for(API, "DiffusionService", "sdxl", namespace, phase_is("Ready"), timeout=90, what="Ready")
    policy = kube.wait_for("networking.k8s.io/v1", "NetworkPolicy", "sdxl", namespace, lambda p: True)
    spec = policy.to_dict()["spec"]
    assert spec["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "sdxl"}
    }
    assert spec["policyTypes"] == ["Ingress"]
    assert ingress(policy) == [
        ([8000, 8001], [GATEWAY, WEB]),
        ([8002], [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]),
    ]
    [owner] = policy.metadata.ownerReferences
    assert (owner.kind, owner.name, owner.controller) == ("DiffusionService", "sdxl", True)
    # The policy selects exactly the Triton pods that run.
    triton = kube.items(
        "v1", "Pod", namespace, label_selector="app.kubernetes.io/name=triton,app.kubernetes.io/instance=sdxl"
    )
    assert len(triton) == 1

    resource = kube.resource(API, "DiffusionService")
    resource.patch(
        name="sdxl",
        namespace=namespace,
        content_type="application/merge-patch+json",
        body={"spec": {"serving": {"networkPolicy": {"metricsScrapers": [], "allowedClients": [GATEWAY]}}}},
    )
    kube.wait_for(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "sdxl",
        namespace,
        lambda p: ingress(p) == [([8000, 8001], [GATEWAY])],
        timeout=30,
        what="scrapers removed",
    )

    resource.patch(
        name="sdxl",
        namespace=namespace,
        content_type="application/merge-patch+json",
        body={"spec": {"serving": {"networkPolicy": {"enabled": False}}}},
    )
    kube.wait_gone("networking.k8s.io/v1", "NetworkPolicy", "sdxl", namespace, timeout=30)
    assert kube.get("apps/v1", "Deployment", "sdxl", namespace) is not None, "only the policy goes"
    assert "Traceback" not in operator.log()
