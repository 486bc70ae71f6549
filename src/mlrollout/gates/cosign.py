"""Cosign key-based signatures: judge each signature layer, then the set against policy.

Pure: the layers arrive already fetched (``verify`` fetches them with ``oci``; tests build
them from the containers/image vectors). Order of checks per layer: blob digest and size,
signature encoding, cryptography against trusted keys, and only then the payload (parsed
from verified bytes), digest, identity and required annotations.

A signature that verifies under no trusted key is ``UNTRUSTED_KEY``: a forged payload and a
stranger's key cannot be told apart by ECDSA, and both mean "not signed by anyone we trust".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from mlrollout.errors import GateError
from mlrollout.gates.keys import decide_signature_valid, decode_der_signature
from mlrollout.gates.manifest import Descriptor
from mlrollout.gates.policy import SignaturePolicy, TrustedKey
from mlrollout.gates.reasons import Reason
from mlrollout.gates.result import Check, VerificationResult, describe_refusal
from mlrollout.gates.simplesigning import compute_repository_identity, parse_simple_signing
from mlrollout.model import ImageRef

__all__ = [
    "SIGNATURE_ANNOTATION",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "BlobLayer",
    "assess_signature_layer",
    "assess_signatures",
    "decide_blob_intact",
    "decide_trusted_signers",
]

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
_RANK = {
    Reason.BLOB_DIGEST_MISMATCH: 1,
    Reason.BAD_SIGNATURE: 2,
    Reason.UNTRUSTED_KEY: 3,
    Reason.MANIFEST_DIGEST_MISMATCH: 4,
    Reason.IDENTITY_MISMATCH: 5,
    Reason.POLICY_ANNOTATION: 6,
    Reason.BUNDLE_INVALID: 1,
    Reason.ARTIFACT_MISMATCH: 4,
    Reason.SUBJECT_MISMATCH: 4,
    Reason.ATTESTATION_INVALID: 1,
    Reason.TRUST_ROOT_INVALID: 2,
    Reason.CERT_CHAIN_INVALID: 3,
    Reason.TLOG_INVALID: 3,
    Reason.TIMESTAMP_INVALID: 3,
    Reason.NO_LOG_EVIDENCE: 4,
    Reason.CERT_ISSUER_MISMATCH: 5,
    Reason.CERT_IDENTITY_MISMATCH: 5,
}


@dataclass(frozen=True, kw_only=True)
class BlobLayer(Descriptor):
    """A layer as its manifest describes it, with the bytes the registry served for it."""

    blob: bytes


def _refusal(reason: Reason, message: str) -> GateError:
    return GateError(reason.value, message)


def decide_blob_intact(layer: BlobLayer) -> str | None:
    """``None`` when the blob has the descriptor's size and sha256, else what is wrong."""
    if len(layer.blob) != layer.size:
        return f"descriptor says {layer.size} bytes, blob has {len(layer.blob)}"
    if not layer.digest.startswith("sha256:"):
        return f"unsupported digest algorithm in {layer.digest!r}"
    actual = "sha256:" + hashlib.sha256(layer.blob).hexdigest()
    if actual != layer.digest:
        return f"blob digest {actual} differs from descriptor {layer.digest}"
    return None


def _der_signature(annotations: Mapping[str, str]) -> bytes:
    text = annotations.get(SIGNATURE_ANNOTATION)
    if not isinstance(text, str):
        raise _refusal(Reason.BAD_SIGNATURE, f"layer lacks annotation {SIGNATURE_ANNOTATION}")
    try:
        der = decode_der_signature(text)
    except ValueError as exc:
        raise _refusal(Reason.BAD_SIGNATURE, f"signature is not base64 DER: {exc}") from exc
    return der


def decide_trusted_signers(
    der: bytes, payload: bytes, *, keys: Sequence[TrustedKey], now: datetime
) -> list[TrustedKey]:
    """The trusted keys, valid at ``now``, under which ``der`` verifies; else ``GateError``."""
    matching = [
        k for k in keys if decide_signature_valid(k.key, der_signature=der, message=payload)
    ]
    if not matching:
        raise _refusal(Reason.UNTRUSTED_KEY, "signature does not verify under any trusted key")
    valid = [k for k in matching if k.decide_valid_at(now)]
    if not valid:
        names = ", ".join(k.name for k in matching)
        raise _refusal(Reason.UNTRUSTED_KEY, f"signing key {names} is outside its validity window")
    return valid


def _check_claims(payload: bytes, *, image: ImageRef, policy: SignaturePolicy) -> None:
    try:
        claims = parse_simple_signing(payload)
    except ValueError as exc:
        raise _refusal(Reason.BAD_SIGNATURE, f"malformed signed payload: {exc}") from exc
    if claims.manifest_digest != image.digest:
        raise _refusal(
            Reason.MANIFEST_DIGEST_MISMATCH,
            f"signature is for {claims.manifest_digest}, image is {image.digest}",
        )
    pulled = compute_repository_identity(image.repository)
    expected = compute_repository_identity(policy.identity_mirrors.get(pulled, pulled))
    signed = compute_repository_identity(claims.docker_reference)
    if signed != expected:
        raise _refusal(Reason.IDENTITY_MISMATCH, f"signature names {signed}, expected {expected}")
    for name, value in policy.required_annotations.items():
        if claims.optional.get(name) != value:
            got = claims.optional.get(name, "<absent>")
            raise _refusal(
                Reason.POLICY_ANNOTATION, f"annotation {name!r} must be {value!r}, got {got!r}"
            )


def assess_signature_layer(
    layer: BlobLayer, *, index: int, image: ImageRef, policy: SignaturePolicy, now: datetime
) -> tuple[Check, tuple[TrustedKey, ...]]:
    """Judge one layer; return its check and the trusted keys it counts for (if it passed)."""
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE:
        msg = f"not a signature (media type {layer.media_type!r})"
        return Check("signature", index, Reason.UNSIGNED, msg), ()
    try:
        problem = decide_blob_intact(layer)
        if problem:
            raise _refusal(Reason.BLOB_DIGEST_MISMATCH, problem)
        der = _der_signature(layer.annotations)
        keys = decide_trusted_signers(der, layer.blob, keys=policy.keys, now=now)
        _check_claims(layer.blob, image=image, policy=policy)
    except GateError as refusal:
        return Check("signature", index, Reason(refusal.reason_code), describe_refusal(refusal)), ()
    names = ", ".join(k.name for k in keys)
    return Check("signature", index, None, "valid", key=names), tuple(keys)


def assess_signatures(
    *,
    image: ImageRef,
    layers: Sequence[BlobLayer],
    policy: SignaturePolicy,
    now: datetime,
    bundled: tuple[Sequence[Check], frozenset[str]] = ((), frozenset()),
) -> VerificationResult:
    """Verified when at least ``policy.threshold`` distinct trusted signers signed validly.

    ``layers`` are legacy ``.sig`` layers, judged here; ``bundled`` holds the checks and
    signer ids (key ids or keyless identities) of Sigstore-bundle signatures (``referrers``).
    """
    checks: list[Check] = list(bundled[0])
    signers: set[str] = set(bundled[1])
    for index, layer in enumerate(layers):
        check, keys = assess_signature_layer(
            layer, index=index, image=image, policy=policy, now=now
        )
        checks.append(check)
        signers.update(k.key_id for k in keys)
    return _decide_outcome(str(image), tuple(checks), signers=len(signers), policy=policy)


def _decide_outcome(
    image: str, checks: tuple[Check, ...], *, signers: int, policy: SignaturePolicy
) -> VerificationResult:
    if signers >= policy.threshold:
        return VerificationResult(image, None, f"signed by {signers} trusted signer(s)", checks)
    if signers:
        return VerificationResult.refused(
            image,
            Reason.UNTRUSTED_KEY,
            f"signed by {signers} distinct trusted signer(s), policy requires {policy.threshold}",
            checks,
        )
    failures = [c for c in checks if c.reason in _RANK]
    if not failures:
        return VerificationResult.refused(image, Reason.UNSIGNED, "no signature found", checks)
    worst = max(failures, key=lambda c: _RANK[c.reason] if c.reason else 0)
    assert worst.reason is not None
    return VerificationResult.refused(image, worst.reason, worst.message, checks)
