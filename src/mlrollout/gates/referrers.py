"""Sigstore bundles attached to an image (cosign v3): judge each, sort signatures from
attestations.

Pure; ``verify`` finds the bundles through the OCI referrers API (``oci``) and hands their
bytes here. Each bundle is verified by ``bundle.decide_bundle`` against the image digest:
a DSSE bundle's statement must name the image, a message-signature bundle must sign the
manifest digest itself. A statement of type ``https://sigstore.dev/cosign/sign/v1`` (what
``cosign sign`` writes) or a message signature is a *signature*; any other verified
statement is an *attestation* and goes to the same predicate checks as legacy ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mlrollout.errors import GateError
from mlrollout.gates.bundle import VerifiedBundle, decide_bundle
from mlrollout.gates.cosign import BlobLayer, decide_blob_intact
from mlrollout.gates.intoto import Statement
from mlrollout.gates.policy import SignaturePolicy
from mlrollout.gates.reasons import Reason
from mlrollout.gates.result import Check, describe_refusal
from mlrollout.model import ImageRef

__all__ = [
    "BUNDLE_MEDIA_PREFIX",
    "COSIGN_SIGN_PREDICATE",
    "BundleAssessment",
    "assess_bundles",
    "decide_bundle_referrer",
]

BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
_EMPTY_ARTIFACT = "application/vnd.oci.empty.v1+json"


@dataclass(frozen=True)
class BundleAssessment:
    """The verdicts on an image's bundles: signature checks, who signed, attestations."""

    signature_checks: tuple[Check, ...]
    signers: frozenset[str]
    attestations: tuple[tuple[Check, Statement | None], ...]


def decide_bundle_referrer(artifact_type: str | None) -> bool:
    """True for referrers that may hold a bundle (cosign has written the empty type)."""
    return (
        not artifact_type
        or artifact_type in (_EMPTY_ARTIFACT,)
        or (artifact_type.startswith(BUNDLE_MEDIA_PREFIX))
    )


def _is_signature(verified: VerifiedBundle) -> bool:
    statement = verified.statement
    return statement is None or statement.predicate_type == COSIGN_SIGN_PREDICATE


def _assess_one(
    layer: BlobLayer, *, image: ImageRef, policy: SignaturePolicy, now: datetime
) -> VerifiedBundle:
    problem = decide_blob_intact(layer)
    if problem:
        raise GateError(Reason.BLOB_DIGEST_MISMATCH.value, problem)
    verified = decide_bundle(layer.blob, digest=image.digest, policy=policy, now=now)
    if _is_signature(verified) and policy.required_annotations:
        _check_annotations(verified, image=image, policy=policy)
    return verified


def _check_annotations(
    verified: VerifiedBundle, *, image: ImageRef, policy: SignaturePolicy
) -> None:
    """cosign v3 signs ``-a`` values as annotations of the statement's subject."""
    if verified.statement is None:
        raise GateError(
            Reason.POLICY_ANNOTATION.value, "a message-signature bundle carries no annotations"
        )
    signed = verified.statement.annotations_of(image.digest)
    for name, value in policy.required_annotations.items():
        if signed.get(name) != value:
            got = signed.get(name, "<absent>")
            raise GateError(
                Reason.POLICY_ANNOTATION.value,
                f"annotation {name!r} must be {value!r}, got {got!r}",
            )


def assess_bundles(
    *, image: ImageRef, layers: Sequence[BlobLayer], policy: SignaturePolicy, now: datetime
) -> BundleAssessment:
    """Verify every bundle layer; a failed one is a failed check, never an exception."""
    signatures: list[Check] = []
    signers: set[str] = set()
    attestations: list[tuple[Check, Statement | None]] = []
    for index, layer in enumerate(layers):
        try:
            verified = _assess_one(layer, image=image, policy=policy, now=now)
        except GateError as exc:
            reason = Reason(exc.reason_code)
            signatures.append(Check("bundle", index, reason, describe_refusal(exc)))
            continue
        statement = verified.statement
        if _is_signature(verified):
            signatures.append(Check("bundle", index, None, "valid", key=verified.signer))
            signers.update(verified.signer_ids)
        else:
            assert statement is not None
            kind = statement.predicate_type
            check = Check(
                "attestation", index, None, "verified", key=verified.signer, predicate_type=kind
            )
            attestations.append((check, statement))
    return BundleAssessment(tuple(signatures), frozenset(signers), tuple(attestations))
