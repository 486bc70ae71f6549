"""The effective gates of a rollout in a governed namespace: policy minimums merged in.

Part of the ``spec`` layer, pure: ``compute_effective_gates`` takes a rollout's
``spec.gates`` and the ``ClusterReleasePolicy`` objects governing its namespace and returns
the gates to run plus every refusal. A rollout can add requirements, never remove them:
missing requirements are filled in from the policy (provenance, SBOM, vulnerability
threshold, pod-security level), while what only the author could loosen — no signature
gate, an inline key, a key, identity, trusted root, builder or source outside the policy's
lists, an unsigned model where signed ones are required — is a refusal naming the field
and the policy. Policies apply in name order.
The controller (``controller.gating``), ``lint --policy`` and ``admission`` call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mlrollout.spec.policy import (
    Gates,
    KeylessIdentity,
    ProvenanceGate,
    PublicKeyRef,
    SignatureGate,
    VulnerabilityGate,
)
from mlrollout.spec.release_policy import ClusterReleasePolicy, PolicyProvenance

__all__ = [
    "Governance",
    "PolicyRefusal",
    "compute_effective_gates",
    "compute_policy_gates",
    "select_policies",
]

_SEVERITY = ("none", "negligible", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class PolicyRefusal:
    """One requirement a rollout's gates break: which policy, which field, why."""

    policy: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} (ClusterReleasePolicy {self.policy})"


@dataclass(frozen=True)
class Governance:
    """The gates to run, the policies that applied, and every refusal."""

    gates: Gates
    policies: tuple[str, ...]
    refusals: tuple[PolicyRefusal, ...]

    @property
    def allowed(self) -> bool:
        """Whether no policy refuses the rollout's gates."""
        return not self.refusals


def select_policies(
    policies: Iterable[ClusterReleasePolicy], namespace_labels: dict[str, str]
) -> list[ClusterReleasePolicy]:
    """The policies governing a namespace with these labels, in name order."""
    return sorted((p for p in policies if p.governs(namespace_labels)), key=lambda p: p.name)


def compute_effective_gates(
    gates: Gates,
    policies: Sequence[ClusterReleasePolicy],
    *,
    model_signed: bool | None = None,
) -> Governance:
    """Merge each governing policy's minimums into ``gates`` (see the module docstring).

    ``model_signed`` says whether the release's model carries ``signature`` (None: not
    judged here, as in admission, which sees no model).
    """
    refusals: list[PolicyRefusal] = []
    for policy in policies:
        refusals += _signature_refusals(gates.signature, policy)
        if policy.spec.require_model_signature and model_signed is False:
            refusals.append(
                PolicyRefusal(
                    policy.name,
                    "spec.release.model.signature",
                    "not set; the policy requires signed models",
                )
            )
        gates = _merge(gates, policy, refusals)
    return Governance(gates, tuple(p.name for p in policies), tuple(refusals))


def compute_policy_gates(policy: ClusterReleasePolicy) -> Gates | None:
    """The gates a policy alone enforces (admission: no rollout involved).

    Any one of its trusted keys or identities suffices (threshold 1); its provenance, SBOM
    and vulnerability minimums are required. None when it names no trusted key or identity:
    such a policy cannot verify an image by itself.
    """
    spec = policy.spec
    wanted = spec.signature
    if not wanted.public_keys and not wanted.keyless:
        return None
    provenance = None
    if spec.provenance is not None:
        provenance = ProvenanceGate(
            builder_ids=list(spec.provenance.builder_ids),
            source_repos=list(spec.provenance.source_repos),
            source_refs=list(spec.provenance.source_refs),
        )
    signature = SignatureGate(
        public_keys=list(wanted.public_keys),
        keyless=list(wanted.keyless),
        trusted_root=wanted.trusted_root,
        threshold=1,
    )
    return Gates(
        signature=signature,
        provenance=provenance,
        sbom=spec.sbom,
        vulnerabilities=spec.vulnerabilities,
        pod_security=spec.pod_security,
    )


def _signature_refusals(
    signature: SignatureGate | None, policy: ClusterReleasePolicy
) -> list[PolicyRefusal]:
    name, wanted = policy.name, policy.spec.signature
    field = "spec.gates.signature"
    if signature is None:
        return [PolicyRefusal(name, field, "not set; the policy requires signature verification")]
    out: list[PolicyRefusal] = []
    restricted = bool(wanted.public_keys or wanted.keyless)
    for i, key in enumerate(signature.public_keys):
        where = f"{field}.publicKeys[{i}]"
        if key.pem is not None and not wanted.allow_inline_keys:
            out.append(PolicyRefusal(name, where, "inline pem keys are not allowed"))
        elif key.pem is None and restricted and not _listed_key(key, wanted.public_keys):
            out.append(PolicyRefusal(name, where, f"{_key_text(key)} is not a trusted key"))
    for i, identity in enumerate(signature.keyless):
        if restricted and identity not in wanted.keyless:
            where = f"{field}.keyless[{i}]"
            out.append(PolicyRefusal(name, where, f"{_identity_text(identity)} is not trusted"))
    root = signature.trusted_root
    if wanted.trusted_root is not None and root is not None and root != wanted.trusted_root:
        out.append(PolicyRefusal(name, f"{field}.trustedRoot", "must be the policy's trusted root"))
    return out


def _listed_key(key: PublicKeyRef, trusted: Sequence[PublicKeyRef]) -> bool:
    return any(
        (key.secret, key.key, key.file) == (t.secret, t.key, t.file) for t in trusted if not t.pem
    )


def _key_text(key: PublicKeyRef) -> str:
    return f"secret {key.secret}/{key.key}" if key.secret else f"file {key.file}"


def _identity_text(identity: KeylessIdentity) -> str:
    subject = identity.identity or f"regexp {identity.identity_regexp}"
    return f"identity {subject!r} from {identity.issuer!r}"


def _merge(gates: Gates, policy: ClusterReleasePolicy, refusals: list[PolicyRefusal]) -> Gates:
    spec = policy.spec
    provenance = gates.provenance
    if spec.provenance is not None:
        provenance = _provenance(provenance, spec.provenance, policy.name, refusals)
    return gates.model_copy(
        update={
            "provenance": provenance,
            "sbom": gates.sbom or spec.sbom,
            "vulnerabilities": _vulnerabilities(gates.vulnerabilities, spec.vulnerabilities),
            "pod_security": "restricted"
            if "restricted" in (gates.pod_security, spec.pod_security)
            else "baseline",
        }
    )


def _provenance(
    own: ProvenanceGate | None,
    wanted: PolicyProvenance,
    policy: str,
    refusals: list[PolicyRefusal],
) -> ProvenanceGate:
    if own is None:
        return ProvenanceGate(
            builder_ids=list(wanted.builder_ids),
            source_repos=list(wanted.source_repos),
            source_refs=list(wanted.source_refs),
        )
    checks = (
        ("builderIds", own.builder_ids, wanted.builder_ids),
        ("sourceRepos", own.source_repos, wanted.source_repos),
        ("sourceRefs", own.source_refs, wanted.source_refs or None),
    )
    for label, values, allowed in checks:
        for i, value in enumerate(values):
            if allowed is not None and value not in allowed:
                field = f"spec.gates.provenance.{label}[{i}]"
                refusals.append(PolicyRefusal(policy, field, f"{value!r} is not allowed"))
    refs = own.source_refs or list(wanted.source_refs)
    return own.model_copy(update={"source_refs": refs})


def _vulnerabilities(
    own: VulnerabilityGate | None, wanted: VulnerabilityGate | None
) -> VulnerabilityGate | None:
    if wanted is None:
        return own
    if own is None:
        return wanted
    stricter = min(own.max_severity, wanted.max_severity, key=_SEVERITY.index)
    return VulnerabilityGate(max_severity=stricter)
