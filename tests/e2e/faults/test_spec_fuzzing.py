"""Bad input fuzzing: hypothesis-generated DiffusionService specs sent to the real API server.

Every spec starts valid (built from the models' own fields, bounds and rules) and most get one or two
mutations picked from the CRD's schema (wrong type, out of range, bad enum, bad pattern, too long,
huge string, null, unknown field, too many items) or from its CEL rules (minReplicas > maxReplicas,
fp8 on an old GPU, replicas while autoscaling, a request above its limit, ...). Each is created for
real, with ``fieldValidation`` Strict (kubectl's default) or unset (API clients' default), in a
namespace an operator watches. The properties:

- a rejected spec is a 422 (or a 400 for an unknown field under Strict) whose message names the
  offending field under ``spec.``;
- an accepted spec is reconciled (``status.observedGeneration`` reaches ``metadata.generation``), its
  stored form parses with the operator's model, and at the end the operator's log holds no traceback
  or failed handler and the namespace no ``InvalidSpec``/``ReconcileError`` Warning. An accepted spec
  the operator cannot act on is a CRD/model mismatch, fixed in ``diffusion_operator/api``.

Runs ``FAULTS_FUZZ_EXAMPLES`` examples (150 by default), derandomized so CI sees the same specs.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from diffusion_operator.api.crd import openapi_schema
from diffusion_operator.api.gpus import GPU_CATALOGUE, fp8_capable_types
from diffusion_operator.api.resource import GROUP, PLURAL, VERSION, parse_spec
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from testbed.kube import KubeClient
from testbed.operator_process import OperatorProcess
from tests.e2e.faults.support import Figures

EXAMPLES = int(os.environ.get("FAULTS_FUZZ_EXAMPLES", "150"))
#: How long an accepted spec may take to be reconciled (one create event, one status write).
RECONCILE_TIMEOUT_S = 60
SPEC_SCHEMA: dict[str, Any] = openapi_schema()["properties"]["spec"]
#: A field path under spec, as the API server writes it in 422 causes and strict-decoding errors.
SPEC_PATH = re.compile(r"\bspec\.[A-Za-z]")

Spec = dict[str, Any]

# -- valid specs, from the models' fields and bounds ------------------------------------------------
SOURCES = [
    "builtin://tiny-sdxl",
    "hf://stabilityai/stable-diffusion-xl-base-1.0@462165984030d82259a11f4367a4eed",
    "hf://acme/sdxl-finetune",
    "pvc://models/sdxl/base",
    "s3://model-bucket/sdxl",
    "gs://bucket_1/sdxl",
]
IMAGES = [
    "nvcr.io/nvidia/tritonserver:25.01-py3",
    "ghcr.io/acme/engine-builder:1.2.3",
    "registry.local:5000/triton@sha256:" + "a" * 64,
]
LABEL_KEYS = st.one_of(
    st.sampled_from(["app", "team", "cloud.google.com/gke-nodepool", "kubernetes.io/metadata.name", "tier"]),
    st.from_regex(
        r"([a-z][a-z0-9]{0,8}(\.[a-z]{2,5}){0,2}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?", fullmatch=True
    ),
)
LABEL_VALUES = st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,12}[A-Za-z0-9])?)?", fullmatch=True)
DURATIONS = st.builds(
    lambda n, unit, extra: f"{n}{unit}{extra}",
    st.integers(1, 900),
    st.sampled_from(["ms", "s", "m", "h"]),
    st.sampled_from(["", "30s", "500ms"]),
)
CPU = st.sampled_from(["100m", "500m", "1", "2", 4, "7.5"])
MEMORY = st.sampled_from(["512Mi", "1Gi", "16Gi", "32G", 1073741824])


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def compact(mapping: dict[str, Any]) -> dict[str, Any]:
    """Leave out what a strategy drew as None: a field the user did not write."""
    return {key: value for key, value in mapping.items() if value is not None}


def objects(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(fields).map(compact)


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    limits = draw(objects(cpu=optional(CPU), memory=optional(MEMORY)))
    requests = {}
    for name, value in limits.items():  # a request at or below its limit (here: the same or half)
        if draw(st.booleans()):
            requests[name] = value if draw(st.booleans()) else {"cpu": "50m", "memory": "256Mi"}[name]
    return compact({"limits": limits or None, "requests": requests or None})


SELECTORS = objects(
    matchLabels=optional(st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=3)),
    matchExpressions=optional(
        st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "key": LABEL_KEYS,
                        "operator": st.sampled_from(["In", "NotIn"]),
                        "values": st.lists(LABEL_VALUES, min_size=1, max_size=3),
                    }
                ),
                st.fixed_dictionaries({"key": LABEL_KEYS, "operator": st.sampled_from(["Exists", "DoesNotExist"])}),
            ),
            max_size=2,
        )
    ),
)
PEERS = st.one_of(
    st.fixed_dictionaries({"podSelector": SELECTORS}),
    st.fixed_dictionaries({"namespaceSelector": SELECTORS}),
    st.fixed_dictionaries({"podSelector": SELECTORS, "namespaceSelector": SELECTORS}),
)
TOLERATIONS = st.one_of(
    st.fixed_dictionaries(
        {
            "key": LABEL_KEYS,
            "operator": st.just("Equal"),
            "value": LABEL_VALUES,
            "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "key": LABEL_KEYS,
            "operator": st.just("Exists"),
            "effect": st.just("NoExecute"),
            "tolerationSeconds": st.integers(0, 3600),
        }
    ),
    st.just({"operator": "Exists"}),
)


@st.composite
def valid_specs(draw: st.DrawFn) -> Spec:
    precision = draw(st.sampled_from(["fp16", "int8", "fp8"]))
    gpu_types = fp8_capable_types() if precision == "fp8" else sorted(GPU_CATALOGUE)
    sizes = st.integers(32, 192).map(lambda n: n * 8)
    autoscaled = draw(st.booleans())
    spec: Spec = {
        "model": compact(
            {
                "source": draw(st.sampled_from(SOURCES)),
                "credentialsSecretRef": draw(
                    optional(
                        objects(
                            name=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True),
                            key=optional(st.from_regex(r"[-._a-zA-Z0-9]{1,20}", fullmatch=True)),
                        )
                    )
                ),
            }
        ),
        "engine": draw(
            objects(
                precision=st.just(precision),
                resolutions=optional(
                    st.lists(
                        st.fixed_dictionaries({"width": sizes, "height": sizes}),
                        min_size=1,
                        max_size=3,
                        unique_by=lambda r: (r["width"], r["height"]),
                    )
                ),
                maxBatchSize=optional(st.integers(1, 16)),
                builderImage=optional(st.sampled_from(IMAGES)),
                buildTimeout=optional(DURATIONS),
            )
        ),
        "serving": draw(
            objects(
                gpu=objects(type=st.sampled_from(gpu_types), count=optional(st.integers(1, 8))),
                image=optional(st.sampled_from(IMAGES)),
                resources=optional(resources()),
                nodeSelector=optional(
                    st.dictionaries(LABEL_KEYS.filter(lambda k: "gke-accelerator" not in k), LABEL_VALUES, max_size=3)
                ),
                tolerations=optional(st.lists(TOLERATIONS, max_size=3)),
                maxQueueDelay=optional(st.one_of(st.just("0s"), DURATIONS)),
                networkPolicy=optional(
                    objects(
                        enabled=st.booleans(),
                        allowedClients=optional(st.lists(PEERS, max_size=3)),
                        metricsScrapers=optional(st.lists(PEERS, max_size=2)),
                    )
                ),
            )
        ),
        "pipeline": draw(
            objects(
                steps=optional(st.integers(1, 150)),
                guidanceScale=optional(st.one_of(st.integers(0, 30), st.floats(0, 30, allow_nan=False))),
                scheduler=optional(st.sampled_from(["euler", "euler_a", "ddim", "dpmpp_2m"])),
                upscale=optional(objects(factor=optional(st.sampled_from([2, 4])))),
            )
        ),
    }
    if autoscaled:
        low = draw(st.integers(0, 3))
        spec["autoscaling"] = compact(
            {
                "enabled": draw(st.booleans()),
                "minReplicas": low,
                "maxReplicas": draw(st.integers(max(low, 1), 8)),
                "queueLatencyTarget": draw(DURATIONS),
                "activation": {"query": 'sum(gateway_pending{service="x"})', "scaleToZeroAfter": "10m"}
                if low == 0
                else None,
                "fallback": draw(
                    optional(
                        st.one_of(
                            st.just({"mode": "Hold"}),
                            st.builds(lambda n: {"mode": "Fixed", "replicas": n}, st.integers(1, 4)),
                        )
                    )
                ),
                "scaleDown": draw(optional(objects(stabilizationWindowSeconds=optional(st.integers(0, 3600))))),
            }
        )
    if not spec.get("autoscaling", {}).get("enabled"):
        # Small on purpose: the test bed has three fake L4 GPUs, and the bounds are fuzzed as mutations.
        spec["replicas"] = draw(optional(st.integers(0, 2)))
    return compact(spec)


# -- mutations, from the CRD's schema and its CEL rules ---------------------------------------------
WRONG_TYPE = {
    "integer": "seven",
    "number": "1.5x",
    "string": 12345,
    "boolean": "yes",
    "object": "x",
    "array": {"not": "a list"},
}
HUGE = 100_000


def nodes(
    value: Any, schema: dict[str, Any], path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], Any, dict[str, Any]]]:
    """Every (path, value, schema) in a spec, absent optional properties included (value None)."""
    found = [(path, value, schema)]
    if isinstance(value, dict) and "properties" in schema:
        for name, child in schema["properties"].items():
            found += nodes(value.get(name), child, (*path, name)) if name in value else [((*path, name), None, child)]
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += nodes(item, schema["additionalProperties"], (*path, key))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += nodes(item, schema["items"], (*path, index))
    return found


def schema_type(schema: dict[str, Any]) -> str:
    return "integer" if schema.get("x-kubernetes-int-or-string") else str(schema.get("type", "object"))


def schema_mutations(value: Any, schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(kind, replacement) pairs that break one rule the schema states for this node."""
    kind = schema_type(schema)
    out: list[tuple[str, Any]] = []
    if "minimum" in schema:
        out.append(("below-minimum", schema["minimum"] - 1))
    if "maximum" in schema:
        out.append(("above-maximum", schema["maximum"] + 1))
    if "multipleOf" in schema:
        out.append(("not-a-multiple", schema.get("minimum", 0) + schema["multipleOf"] + 1))
    if "enum" in schema:
        out.append(("bad-enum", "not-" + str(schema["enum"][0])))
    if "pattern" in schema:
        out += [("bad-pattern", "not a valid value!"), ("bad-pattern", "-1"), ("bad-pattern", "2 hours")]
    if kind == "string":
        out.append(("huge-string", "x" * HUGE))
        if "maxLength" in schema:
            out.append(("too-long", "a" * (schema["maxLength"] + 1)))
    mapping = value if isinstance(value, dict) else {}  # an earlier mutation may have changed its type
    if kind == "object" and "properties" in schema:
        out.append(("unknown-field", {**mapping, "surpriseField": 1}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        out.append(("bad-map-key", {**mapping, "not a label key!": "1"}))
    if kind == "array" and isinstance(value, list) and value:
        if "maxItems" in schema:
            out.append(("too-many-items", [value[0]] * (schema["maxItems"] + 1)))
        if "minItems" in schema:
            out.append(("too-few-items", []))
    return [*out, ("wrong-type", WRONG_TYPE[kind]), ("null", None)]


AUTOSCALED = {"enabled": True, "minReplicas": 1, "maxReplicas": 4, "queueLatencyTarget": "500ms"}
#: Spec-wide rules the schema alone cannot state (CEL), each as a patch that breaks exactly it.
CEL_VIOLATIONS: dict[str, Spec] = {
    "min-above-max": {"autoscaling": {**AUTOSCALED, "minReplicas": 5, "maxReplicas": 2}},
    "fp8-on-t4": {"engine": {"precision": "fp8"}, "serving": {"gpu": {"type": "nvidia-tesla-t4"}}},
    "replicas-while-autoscaling": {"replicas": 2, "autoscaling": AUTOSCALED},
    "enabled-without-max": {"autoscaling": {"enabled": True, "queueLatencyTarget": "1s"}},
    "zero-without-activation": {"autoscaling": {**AUTOSCALED, "minReplicas": 0}},
    "fixed-fallback-without-replicas": {"autoscaling": {**AUTOSCALED, "fallback": {"mode": "Fixed"}}},
    "zero-duration": {"engine": {"buildTimeout": "0s"}},
    "duplicate-resolutions": {"engine": {"resolutions": [{"width": 512, "height": 512}] * 2}},
    "gpu-in-resources": {"serving": {"resources": {"limits": {"nvidia.com/gpu": 1}}}},
    "request-above-limit": {"serving": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}},
    "accelerator-in-node-selector": {"serving": {"nodeSelector": {"cloud.google.com/gke-accelerator": "x"}}},
    "toleration-without-key": {"serving": {"tolerations": [{"operator": "Equal", "value": "x"}]}},
    "toleration-exists-with-value": {"serving": {"tolerations": [{"key": "a", "operator": "Exists", "value": "b"}]}},
    "peer-without-selector": {"serving": {"networkPolicy": {"enabled": True, "allowedClients": [{}]}}},
    "in-without-values": {
        "serving": {
            "networkPolicy": {
                "metricsScrapers": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn"}]}}]
            }
        }
    },
}


def merge(base: Spec, patch: Spec) -> Spec:
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_path(spec: Spec, path: tuple[Any, ...], value: Any) -> Spec:
    spec = copy.deepcopy(spec)
    node: Any = spec
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return spec


@dataclass
class Case:
    spec: Spec
    mutations: list[str] = field(default_factory=list)


@st.composite
def fuzzed_specs(draw: st.DrawFn) -> Case:
    case = Case(draw(valid_specs()))
    # Mostly one mutation, some two, some none (valid specs must be accepted *and* reconciled).
    for _ in range(draw(st.sampled_from([1, 2, 0, 1]))):
        if draw(st.sampled_from(["schema", "schema", "cel"])) == "cel":
            name = draw(st.sampled_from(sorted(CEL_VIOLATIONS)))
            case = Case(merge(case.spec, CEL_VIOLATIONS[name]), [*case.mutations, f"cel:{name}"])
            continue
        by_kind: dict[str, list[tuple[tuple[Any, ...], Any]]] = {}
        for path, value, schema in nodes(case.spec, SPEC_SCHEMA):
            for kind, replacement in schema_mutations(value, schema) if path else []:
                by_kind.setdefault(kind, []).append((path, replacement))
        # Seeded random choices (sampled_from leans towards the first options): a kind of mutation
        # uniformly, then a node it applies to, so rare kinds (a bad map key) get their turn.
        rnd = random.Random(f"{draw(st.integers(0, 2**32))}:{json.dumps(case.spec, sort_keys=True)}")
        kind = rnd.choice(sorted(by_kind))
        path, replacement = rnd.choice(by_kind[kind])
        where = ".".join(str(part) for part in path)
        case = Case(set_path(case.spec, path, replacement), [*case.mutations, f"{kind}:{where}"])
    return case


# -- the test ----------------------------------------------------------------------------------------
def field_paths(err: ApiException) -> tuple[str, list[str]]:
    """The error's message and the field paths of its causes."""
    try:
        body = json.loads(err.body)
    except (TypeError, ValueError):
        return str(err.body), []
    causes = (body.get("details") or {}).get("causes") or []
    return str(body.get("message", "")), [str(c.get("field", "")) for c in causes]


def test_every_fuzzed_spec_is_refused_with_a_field_path_or_reconciled_cleanly(
    kube: KubeClient, namespace: str, operator: OperatorProcess, figures: Figures
):
    api = client.CustomObjectsApi(kube.api_client)
    counts: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    seen = iter(range(1_000_000))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(case=fuzzed_specs(), strict=st.booleans())
    def check(case: Case, strict: bool) -> None:
        name = f"fuzz-{next(seen)}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DiffusionService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": case.spec,
        }
        extra = {"field_validation": "Strict"} if strict else {}
        for mutation in case.mutations:
            kinds[mutation.split(":")[0]] += 1
        try:
            created = api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body, **extra)
        except ApiException as err:
            message, fields = field_paths(err)
            assert err.status in (400, 422), f"{case.mutations}: HTTP {err.status} {message[:500]}"
            assert SPEC_PATH.search(message) or any(f.startswith("spec.") for f in fields), (
                f"{case.mutations}: no field path under spec. in {message[:500]!r}"
            )
            counts[f"rejected_{err.status}"] += 1
            return
        counts["accepted_mutated" if case.mutations else "accepted_valid"] += 1
        # What the API server stored (pruned, defaulted) is what the operator parses.
        parse_spec(created["spec"])
        generation = created["metadata"]["generation"]
        deadline = time.monotonic() + RECONCILE_TIMEOUT_S
        while True:
            current = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            if (current.get("status") or {}).get("observedGeneration") == generation:
                break
            assert time.monotonic() < deadline, (
                f"{case.mutations}: accepted but not reconciled in {RECONCILE_TIMEOUT_S}s\n"
                f"{json.dumps(case.spec)[:2000]}\n" + "\n".join(kube.events_for(namespace, name)[-10:])
            )
            time.sleep(0.2)
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    started = time.monotonic()
    check()
    log = operator.log()
    warnings = [
        e
        for e in kube.events_for(namespace)
        if e.startswith("Warning InvalidSpec") or e.startswith("Warning ReconcileError")
    ]
    accepted = counts["accepted_valid"] + counts["accepted_mutated"]
    rejected = counts["rejected_422"] + counts["rejected_400"]
    summary = {
        "examples": accepted + rejected,
        "accepted": accepted,
        "rejected": rejected,
        **dict(counts),
        "mutation_kinds": dict(sorted(kinds.items())),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(f"\nspec fuzzing: {json.dumps(summary, sort_keys=True)}")
    figures.record("spec-fuzzing", **summary)
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
    assert not re.search(r"Handler '[^']+' failed", log), re.findall(r".*Handler '[^']+' failed.*", log)[:5]
    assert warnings == [], warnings[:10]
    assert accepted > 0 and rejected > 0
