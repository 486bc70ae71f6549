"""What a release must satisfy: frozen policy values for every gate.

Built by ``policy_file`` (a YAML policy for the CLI) or by the controller from the rollout
spec. Read by ``cosign`` (signatures), ``attestations`` (provenance, SBOM, scans) and
``podsecurity``. Values only: no I/O and no defaults that widen trust.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric import ec

from mlrollout.gates.keys import compute_key_id, load_p256_public_key

__all__ = [
    "SBOM_PREDICATE_TYPES",
    "SLSA_PROVENANCE_V1",
    "VULN_PREDICATE_TYPE",
    "AttestationPolicy",
    "GatePolicy",
    "KeylessIdentity",
    "PodSecurityPolicy",
    "ProvenancePolicy",
    "SignaturePolicy",
    "TrustedKey",
    "VulnerabilityPolicy",
]

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SBOM_PREDICATE_TYPES = frozenset(
    {
        "https://spdx.dev/Document",
        "https://spdx.dev/Document/v2.3",
        "https://cyclonedx.org/bom",
        "https://cyclonedx.org/bom/v1.4",
        "https://cyclonedx.org/bom/v1.5",
        "https://cyclonedx.org/bom/v1.6",
    }
)
VULN_PREDICATE_TYPE = "https://cosign.sigstore.dev/attestation/vuln/v1"
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class TrustedKey:
    """A P-256 public key trusted for signatures made while it is valid."""

    name: str
    key: ec.EllipticCurvePublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None

    @classmethod
    def from_pem(
        cls,
        pem: bytes,
        *,
        name: str,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> TrustedKey:
        """Load a PEM public key (P-256 only); ``ValueError`` names what is wrong."""
        return cls(name, load_p256_public_key(pem), not_before, not_after)

    @property
    def key_id(self) -> str:
        """The SHA-256 of the key's DER encoding; two entries with one id are one key."""
        return compute_key_id(self.key)

    def decide_valid_at(self, now: datetime) -> bool:
        """True when ``now`` lies inside the key's validity window."""
        if self.not_before is not None and now < self.not_before:
            return False
        return self.not_after is None or now <= self.not_after


@dataclass(frozen=True)
class KeylessIdentity:
    """A Fulcio certificate identity trusted for keyless signatures.

    The certificate's subject alternative name must equal ``identity`` or, when
    ``identity_regexp`` is set, match it in full (anchored at both ends); its OIDC issuer
    extension must equal ``issuer`` exactly.
    """

    issuer: str
    identity: str | None = None
    identity_regexp: str | None = None

    def __post_init__(self) -> None:
        if (self.identity is None) == (self.identity_regexp is None):
            raise ValueError("set exactly one of identity and identity_regexp")
        if not self.issuer:
            raise ValueError("issuer must not be empty")
        if self.identity_regexp is not None:
            try:
                re.compile(self.identity_regexp)
            except re.error as exc:
                raise ValueError(f"identity_regexp is not a regular expression: {exc}") from exc

    def decide_identity(self, names: frozenset[str]) -> bool:
        """True when one of the certificate's ``names`` is this identity."""
        if self.identity is not None:
            return self.identity in names
        assert self.identity_regexp is not None
        pattern = re.compile(self.identity_regexp)
        return any(pattern.fullmatch(name) for name in names)

    def describe(self) -> str:
        """``identity`` or ``~regexp``, then ``@ issuer``: for messages."""
        name = self.identity if self.identity is not None else f"~{self.identity_regexp}"
        return f"{name} @ {self.issuer}"


@dataclass(frozen=True)
class SignaturePolicy:
    """Cosign signature rules: trusted keys and/or keyless identities.

    ``identity_mirrors`` maps a repository the image is pulled from to the repository the
    signer named (``mirror.local/fraud`` → ``registry.example.com/fraud``).
    ``required_annotations`` must appear with exactly these values in the payload's
    ``optional`` object (e.g. ``model_sha256``). ``threshold`` counts distinct keys.

    Sigstore bundles (cosign v3) are also accepted: key-signed ones against ``keys``,
    keyless ones against ``identities``, their certificate chain, log entries and signed
    timestamps against ``trusted_root`` (the operator's ``trusted_root.json`` bytes).
    ``require_tlog`` makes a key-signed bundle without a verified transparency-log entry
    a refusal (like cosign without ``--insecure-ignore-tlog``); keyless bundles always
    need log or timestamp evidence.
    """

    keys: tuple[TrustedKey, ...]
    threshold: int = 1
    identity_mirrors: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    required_annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    identities: tuple[KeylessIdentity, ...] = ()
    trusted_root: bytes | None = None
    require_tlog: bool = True

    def __post_init__(self) -> None:
        if not self.keys and not self.identities:
            raise ValueError("a signature policy needs a trusted key or a keyless identity")
        if self.identities and self.trusted_root is None:
            raise ValueError("keyless identities need a trusted root (trusted_root.json)")
        distinct = {k.key_id for k in self.keys} | {i.describe() for i in self.identities}
        if not 1 <= self.threshold <= len(distinct):
            raise ValueError(
                f"threshold must be between 1 and {len(distinct)} distinct signers, "
                f"got {self.threshold}"
            )


@dataclass(frozen=True)
class ProvenancePolicy:
    """SLSA provenance v1 rules; sources come from ``externalParameters.workflow``."""

    builder_ids: frozenset[str]
    source_repositories: frozenset[str]
    source_refs: frozenset[str]
    allowed_external_parameters: frozenset[str] = frozenset({"workflow", "inputs", "vars"})


@dataclass(frozen=True)
class VulnerabilityPolicy:
    """A scan attestation must exist and report nothing above ``max_severity``."""

    max_severity: str = "MEDIUM"


@dataclass(frozen=True)
class AttestationPolicy:
    """Which attestations are required; ``None`` disables that check."""

    provenance: ProvenancePolicy | None = None
    require_sbom: bool = False
    vulnerabilities: VulnerabilityPolicy | None = None

    @property
    def required(self) -> bool:
        """True when at least one attestation is required."""
        return bool(self.provenance or self.require_sbom or self.vulnerabilities)


@dataclass(frozen=True)
class PodSecurityPolicy:
    """A Pod Security Standards level plus mlrollout's extras for model-serving pods."""

    level: str = "restricted"  # ``baseline`` or ``restricted`` (``gates.podSecurity``)
    max_gpus: int = 8
    gpu_resource: str = "nvidia.com/gpu"
    require_gpu: bool = True
    require_read_only_root: bool = True
    require_egress_policy: bool = True
    egress_policy_missing_is_error: bool = False
    allowed_model_schemes: frozenset[str] = frozenset({"https", "s3", "gs"})


@dataclass(frozen=True)
class GatePolicy:
    """Everything one release is checked against."""

    signature: SignaturePolicy
    attestations: AttestationPolicy = field(default_factory=AttestationPolicy)
    pod_security: PodSecurityPolicy = field(default_factory=PodSecurityPolicy)
