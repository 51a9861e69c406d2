"""``spec.serving.networkPolicy``: who may reach the Triton pods, as a Kubernetes NetworkPolicy.

Off by default (a policy that forgets a client breaks it). When enabled, the operator owns one
NetworkPolicy per service that selects its Triton pods and allows ingress only:

- to the inference ports (HTTP 8000, gRPC 8001) from ``allowedClients``;
- to the metrics port (8002) from ``metricsScrapers``, or, when that is unset, from the namespace the
  platform's Prometheus runs in (the operator's ``defaults.metricsScraperNamespace``).

Peers have the shape of a NetworkPolicy peer without ``ipBlock``: a pod selector, a namespace
selector, or both (pods matching in namespaces matching). An empty list means *nobody*: the operator
then leaves the rule out, because a NetworkPolicy rule with an empty ``from`` allows every source.
Enforcement is the CNI's job; a cluster without a NetworkPolicy-aware CNI stores the object and
ignores it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from diffusion_operator.api import cel
from diffusion_operator.api.base import ApiModel
from diffusion_operator.api.labels import LabelKey, LabelValue, check_label_keys, label_keys_rule

#: Peers per list: enough for a gateway, a few frontends and a batch namespace; bounds CEL cost.
MAX_PEERS = 16


class LabelSelectorRequirement(ApiModel):
    """``key operator values``, as in a Kubernetes LabelSelector."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                "values must be non-empty for In and NotIn, and unset for Exists and DoesNotExist",
                field_path=".values",
                reason="FieldValueInvalid",
            ),
            cel.rule(
                "!self.key.contains('/') || self.key.indexOf('/') <= 253",
                "the key's prefix must be a DNS subdomain of at most 253 characters",
                field_path=".key",
                reason="FieldValueInvalid",
            ),
        )
    )

    key: LabelKey = Field(description="The label key the selector applies to.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[LabelValue] | None = Field(
        default=None,
        max_length=16,
        description="Label values; non-empty for In and NotIn, unset for Exists and DoesNotExist.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> LabelSelectorRequirement:
        check_label_keys([self.key], "key")
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError("values must be non-empty for In and NotIn, and unset for Exists and DoesNotExist")
        return self


class LabelSelector(ApiModel):
    """A Kubernetes LabelSelector; an empty selector ({}) matches everything."""

    match_labels: dict[str, LabelValue] | None = Field(
        default=None,
        max_length=16,
        description="Labels that must all match.",
        json_schema_extra=cel.validations(label_keys_rule("matchLabels")),
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None,
        max_length=16,
        description="Requirements that must all hold.",
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> LabelSelector:
        check_label_keys(self.match_labels or {}, "matchLabels")
        return self


class NetworkPolicyPeer(ApiModel):
    """Pods allowed in: ``podSelector`` alone selects pods in the service's namespace,
    ``namespaceSelector`` alone every pod in the selected namespaces, both the selected pods there."""

    model_config = ConfigDict(
        json_schema_extra=cel.validations(
            cel.rule(
                "has(self.podSelector) || has(self.namespaceSelector)",
                "a peer needs a podSelector, a namespaceSelector or both",
                reason="FieldValueRequired",
            ),
        )
    )

    pod_selector: LabelSelector | None = Field(default=None, description="Pods allowed in.")
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Namespaces allowed in ({} is every namespace)."
    )

    @model_validator(mode="after")
    def _mirror_cel(self) -> NetworkPolicyPeer:
        if self.pod_selector is None and self.namespace_selector is None:
            raise ValueError("a peer needs a podSelector, a namespaceSelector or both")
        return self


class NetworkPolicySpec(ApiModel):
    """An optional NetworkPolicy limiting ingress to the Triton pods."""

    enabled: bool = Field(default=False, description="Create the NetworkPolicy (deleted again when false).")
    allowed_clients: list[NetworkPolicyPeer] = Field(
        default_factory=list,
        max_length=MAX_PEERS,
        description=(
            "Who may call the inference ports (HTTP 8000, gRPC 8001). Empty: nobody "
            "(only the metrics port stays open to the scrapers)."
        ),
        json_schema_extra={"default": [], "x-kubernetes-list-type": "atomic"},
    )
    metrics_scrapers: list[NetworkPolicyPeer] | None = Field(
        default=None,
        max_length=MAX_PEERS,
        description=(
            "Who may read the metrics port (8002). Unset: pods in the operator's configured Prometheus "
            "namespace (chart value defaults.metricsScraperNamespace); empty: nobody."
        ),
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )
