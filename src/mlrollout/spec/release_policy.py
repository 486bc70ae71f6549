"""The ``ClusterReleasePolicy`` resource: the minimum gates in the namespaces it selects.

Part of the ``spec`` layer, next to ``policy`` (a rollout's own ``spec.gates``, whose value
types it reuses) and ``governance`` (the pure merge of the two). Cluster-scoped: an
operator, not a rollout's author, says which keys and identities are trusted, which
builders and sources provenance must name, which attestations and pod-security level are
required and whether inline keys may be trusted.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from mlrollout.errors import SpecError
from mlrollout.spec.base import DnsSubdomain, LabelMap, SpecModel
from mlrollout.spec.loader import check_api_version, validate_model
from mlrollout.spec.policy import (
    KeylessIdentity,
    Pattern,
    PublicKeyRef,
    TrustedRootRef,
    VulnerabilityGate,
)
from mlrollout.spec.yamlfile import parse_yaml_documents

__all__ = [
    "ClusterReleasePolicy",
    "ClusterReleasePolicySpec",
    "LabelRequirement",
    "NamespaceSelector",
    "PolicyProvenance",
    "PolicySignature",
    "load_release_policies",
    "load_release_policy_object",
]

_LABEL_VALUE = Annotated[str, StringConstraints(max_length=63)]
_LABEL_KEY = Annotated[str, StringConstraints(min_length=1, max_length=317)]


class LabelRequirement(SpecModel):
    """One ``matchExpressions`` entry of a Kubernetes label selector."""

    key: _LABEL_KEY
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[_LABEL_VALUE] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _values(self) -> LabelRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a namespace with ``labels`` satisfies this requirement."""
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        inside = present and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


class NamespaceSelector(SpecModel):
    """Which namespaces are governed; an empty selector selects every namespace."""

    match_labels: LabelMap = Field(default_factory=dict)
    match_expressions: list[LabelRequirement] = Field(default_factory=list, max_length=32)

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a namespace with ``labels`` is selected (all terms must hold)."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        return all(r.matches(labels) for r in self.match_expressions)


class PolicySignature(SpecModel):
    """What signatures rollouts in governed namespaces must check.

    A rollout must set ``spec.gates.signature``; when ``publicKeys`` or ``keyless`` are
    given here, every key and identity the rollout trusts must be one of them (keys are
    compared by reference: the same Secret and key, the same file, the same PEM text).
    """

    public_keys: list[PublicKeyRef] = Field(default_factory=list, max_length=32)
    keyless: list[KeylessIdentity] = Field(default_factory=list, max_length=32)
    trusted_root: TrustedRootRef | None = None
    allow_inline_keys: bool = False

    @model_validator(mode="after")
    def _root(self) -> PolicySignature:
        if self.keyless and self.trusted_root is None:
            raise ValueError("keyless identities need trustedRoot")
        if any(k.pem is not None for k in self.public_keys) and not self.allow_inline_keys:
            raise ValueError("publicKeys has an inline pem but allowInlineKeys is false")
        return self


class PolicyProvenance(SpecModel):
    """SLSA provenance every release must carry: builders and sources allowed."""

    builder_ids: list[Pattern] = Field(min_length=1, max_length=64)
    source_repos: list[Pattern] = Field(min_length=1, max_length=64)
    source_refs: list[Pattern] = Field(default_factory=list, max_length=64)


class ClusterReleasePolicySpec(SpecModel):
    """``spec`` of a ClusterReleasePolicy: the selected namespaces and their minimum gates."""

    namespace_selector: NamespaceSelector
    signature: PolicySignature = Field(default_factory=PolicySignature)
    provenance: PolicyProvenance | None = None
    sbom: bool = False
    vulnerabilities: VulnerabilityGate | None = None
    pod_security: Literal["restricted", "baseline"] = "baseline"
    require_model_signature: bool = False


class PolicyMeta(SpecModel):
    """``metadata`` of a cluster-scoped object: a name, labels and annotations."""

    model_config = ConfigDict(extra="ignore")

    name: DnsSubdomain
    labels: LabelMap = Field(default_factory=dict)
    annotations: LabelMap = Field(default_factory=dict)


class ClusterReleasePolicy(SpecModel):
    """``ClusterReleasePolicy`` (``mlrollout.io/v1alpha1``, cluster-scoped)."""

    api_version: Literal["mlrollout.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ClusterReleasePolicy"]
    metadata: PolicyMeta
    spec: ClusterReleasePolicySpec

    @property
    def name(self) -> str:
        """The policy's name."""
        return self.metadata.name

    def governs(self, namespace_labels: dict[str, str]) -> bool:
        """Whether a namespace with these labels is governed by this policy."""
        return self.spec.namespace_selector.matches(namespace_labels)


def load_release_policy_object(
    obj: object, *, source: str, index: int | None = None
) -> ClusterReleasePolicy:
    """Validate one decoded ClusterReleasePolicy (file document or cluster object)."""
    if not isinstance(obj, dict) or obj.get("kind") != "ClusterReleasePolicy":
        got = obj.get("kind") if isinstance(obj, dict) else type(obj).__name__
        raise SpecError(
            f"must be ClusterReleasePolicy, got {got!r}", source=source, document=index, path="kind"
        )
    check_api_version(obj, source=source, index=index)
    return validate_model(ClusterReleasePolicy, obj, source=source, index=index)


def load_release_policies(data: bytes | str, *, source: str) -> list[ClusterReleasePolicy]:
    """Every ClusterReleasePolicy of a YAML stream; the first problem raises ``SpecError``."""
    raw = parse_yaml_documents(data, source=source)
    if not raw:
        raise SpecError("no documents: expected a ClusterReleasePolicy", source=source)
    multi = len(raw) > 1
    return [
        load_release_policy_object(obj, source=source, index=i + 1 if multi else None)
        for i, obj in enumerate(raw)
    ]
