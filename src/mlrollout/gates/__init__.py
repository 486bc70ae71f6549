"""Supply-chain and preflight gates: nothing starts or moves traffic until these pass.

Layer: below ``cli`` and ``controller``; uses ``model`` and ``errors`` and talks to OCI
registries over httpx. Modules: ``oci`` (distribution client, OCI 1.1 referrers),
``cosign`` and ``simplesigning`` (legacy signatures), ``bundle``, ``keyed_bundle``,
``sigstore_verifier`` and ``referrers`` (Sigstore bundles, cosign v3, keyless),
``dsse``/``intoto``/``attestations`` (provenance, SBOM, scans), ``podsecurity``,
``modeldigest`` and ``modelsig`` (model pins and signatures), ``verify`` (the entry point
the controller calls).
"""

from __future__ import annotations

from mlrollout.gates.attestations import assess_attestations
from mlrollout.gates.cosign import BlobLayer, assess_signatures
from mlrollout.gates.hardening import assess_pod_template, decide_pod_security
from mlrollout.gates.modeldigest import fetch_model_verification
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.podsecurity import Finding
from mlrollout.gates.policy import (
    AttestationPolicy,
    GatePolicy,
    KeylessIdentity,
    PodSecurityPolicy,
    ProvenancePolicy,
    SignaturePolicy,
    TrustedKey,
    VulnerabilityPolicy,
)
from mlrollout.gates.reasons import Reason
from mlrollout.gates.registry_auth import Credentials
from mlrollout.gates.result import Check, VerificationResult
from mlrollout.gates.verify import decide_image_reference, fetch_verification

__all__ = [
    "AttestationPolicy",
    "BlobLayer",
    "Check",
    "Credentials",
    "Finding",
    "GatePolicy",
    "KeylessIdentity",
    "PodSecurityPolicy",
    "ProvenancePolicy",
    "Reason",
    "RegistryClient",
    "SignaturePolicy",
    "TrustedKey",
    "VerificationResult",
    "VulnerabilityPolicy",
    "assess_attestations",
    "assess_pod_template",
    "assess_signatures",
    "decide_image_reference",
    "decide_pod_security",
    "fetch_model_verification",
    "fetch_verification",
]
