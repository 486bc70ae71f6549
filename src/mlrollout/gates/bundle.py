"""Sigstore bundles (v0.1-v0.3): parse, verify offline, and bind to the artifact.

The one core behind ``mlrollout verify blob`` and the bundle path of ``verify image``
(``verify`` fetches referrers with ``oci``). Keyless bundles go through sigstore-python's
verifier (``sigstore_verifier.OfflineVerifier``) built from the operator's
``trusted_root.json`` and an identity policy (``KeylessIdentity``: SAN exact or regexp,
OIDC issuer exact); key-signed bundles through ``keyed_bundle``. A DSSE bundle's verified
in-toto statement must name the artifact's SHA-256 as a subject.

Every failure is a ``GateError`` with a reason code from ``reasons``; the library's
exceptions are mapped here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier
from pydantic import ValidationError
from sigstore.errors import CertValidationError, VerificationError
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, InvalidBundle, TrustedRoot
from sigstore_models.bundle.v1 import Bundle as BundleMessage
from sigstore_models.common.v1 import HashAlgorithm
from sigstore_models.trustroot.v1 import TrustedRoot as TrustedRootMessage

from mlrollout.errors import GateError
from mlrollout.gates.intoto import IN_TOTO_PAYLOAD_TYPE, Statement, parse_statement
from mlrollout.gates.keyed_bundle import decide_keyed_bundle
from mlrollout.gates.policy import KeylessIdentity, SignaturePolicy
from mlrollout.gates.reasons import Reason
from mlrollout.gates.result import Check, VerificationResult, describe_refusal
from mlrollout.gates.sigstore_verifier import OfflineVerifier
from mlrollout.model import Sha256

__all__ = ["VerifiedBundle", "assess_blob", "decide_bundle", "load_trusted_root"]

_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_OTHERNAME_SAN = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")
_NO_EVIDENCE = ("inclusion promise or signed timestamp", "inclusion proof", "log entry in bundle")


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that verified: who signed, and the statement when it was DSSE/in-toto."""

    signer: str
    signer_ids: frozenset[str]
    statement: Statement | None


def _refuse(reason: Reason, message: str) -> GateError:
    return GateError(reason.value, message)


def load_trusted_root(raw: bytes) -> TrustedRoot:
    """A trusted root from ``trusted_root.json`` bytes; TRUST_ROOT_INVALID if unusable."""
    try:
        return TrustedRoot(TrustedRootMessage.from_json(raw))
    except (ValueError, ValidationError, SigstoreError) as exc:
        first = str(exc).splitlines()[0]
        raise _refuse(Reason.TRUST_ROOT_INVALID, f"trusted root is unusable: {first}") from exc


class _IdentityPolicy:
    """A sigstore ``VerificationPolicy``: some trusted identity issued this certificate."""

    def __init__(self, identities: Sequence[KeylessIdentity]) -> None:
        self._identities = tuple(identities)
        self.matched: KeylessIdentity | None = None

    def verify(self, cert: x509.Certificate) -> None:
        """Raise ``_PolicyRefusalError`` (a ``VerificationError``) unless an identity matches."""
        issuer = _certificate_issuer(cert)
        names = _certificate_names(cert)
        same_issuer = [i for i in self._identities if i.issuer == issuer]
        if not same_issuer:
            message = f"certificate issuer is {issuer!r}"
            raise _PolicyRefusalError(Reason.CERT_ISSUER_MISMATCH, message)
        for identity in same_issuer:
            if identity.decide_identity(names):
                self.matched = identity
                return
        shown = ", ".join(sorted(names)) or "none"
        raise _PolicyRefusalError(Reason.CERT_IDENTITY_MISMATCH, f"certificate identities: {shown}")


class _PolicyRefusalError(VerificationError):
    def __init__(self, reason: Reason, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _certificate_issuer(cert: x509.Certificate) -> str | None:
    for oid in (_ISSUER_V2, _ISSUER_V1):
        try:
            value = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
        if oid == _ISSUER_V2 and len(raw) >= 2 and raw[0] == 0x0C:
            return _der_utf8(raw)
        return raw.decode(errors="replace")
    return None


def _der_utf8(raw: bytes) -> str:
    """The text of a DER UTF8String (tag 0x0C, short or long length form)."""
    length, offset = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
    return raw[offset : offset + length].decode(errors="replace")


def _certificate_names(cert: x509.Certificate) -> frozenset[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset()
    names = set(san.get_values_for_type(x509.RFC822Name))
    names.update(san.get_values_for_type(x509.UniformResourceIdentifier))
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == _OTHERNAME_SAN:
            names.add(
                _der_utf8(other.value) if other.value[:1] == b"\x0c" else other.value.decode()
            )
    return frozenset(names)


def _with_proto3_defaults(raw: bytes) -> bytes:
    """Proto3 JSON omits empty repeated fields (cosign writes no ``tlogEntries`` when it
    logged nothing); the model requires the key, so an absent one is added as ``[]``."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw  # the model reports the JSON error
    material = doc.get("verificationMaterial") if isinstance(doc, dict) else None
    if not isinstance(material, dict) or "tlogEntries" in material:
        return raw
    material["tlogEntries"] = []
    return json.dumps(doc).encode()


def _parse(raw: bytes) -> BundleMessage:
    try:
        message = BundleMessage.from_json(_with_proto3_defaults(raw))
    except (ValueError, ValidationError) as exc:
        lines = str(exc).splitlines()
        detail = "; ".join(line.strip() for line in lines[1:3]) or lines[0]
        if _lacks_inclusion_proof(exc):
            raise _refuse(Reason.NO_LOG_EVIDENCE, f"log entry lacks {detail}") from exc
        raise _refuse(Reason.BUNDLE_INVALID, f"not a Sigstore bundle: {detail}") from exc
    try:
        Bundle.BundleType(message.media_type)
    except ValueError as exc:
        raise _refuse(Reason.BUNDLE_INVALID, f"unsupported bundle {message.media_type}") from exc
    return message


def _lacks_inclusion_proof(exc: Exception) -> bool:
    if not isinstance(exc, ValidationError):
        return False
    errors = exc.errors()
    return len(errors) == 1 and errors[0]["loc"][-1:] == ("inclusionProof",)


def decide_bundle(
    raw: bytes, *, digest: Sha256, policy: SignaturePolicy, now: datetime
) -> VerifiedBundle:
    """Verify bundle ``raw`` over the artifact with SHA-256 ``digest`` against ``policy``."""
    message = _parse(raw)
    trusted_root = load_trusted_root(policy.trusted_root) if policy.trusted_root else None
    artifact = bytes.fromhex(digest.hex)
    if message.verification_material.public_key is not None:
        keys = decide_keyed_bundle(
            message,
            digest=artifact,
            keys=policy.keys,
            trusted_root=trusted_root,
            require_tlog=policy.require_tlog,
            now=now,
        )
        signer = ", ".join(k.name for k in keys)
        ids = frozenset(k.key_id for k in keys)
    else:
        signer = _decide_keyless(message, artifact, policy=policy, trusted_root=trusted_root)
        ids = frozenset({signer})
    statement = _statement(message, digest) if message.dsse_envelope is not None else None
    return VerifiedBundle(signer, ids, statement)


def _decide_keyless(
    message: BundleMessage,
    artifact: bytes,
    *,
    policy: SignaturePolicy,
    trusted_root: TrustedRoot | None,
) -> str:
    if not policy.identities:
        raise _refuse(Reason.CERT_IDENTITY_MISMATCH, "bundle is keyless; no identity is trusted")
    if trusted_root is None:
        raise _refuse(Reason.TRUST_ROOT_INVALID, "keyless bundles need a trusted root")
    identity = _IdentityPolicy(policy.identities)
    try:
        bundle = Bundle(message)
        verifier = OfflineVerifier(trusted_root=trusted_root)
        if message.dsse_envelope is not None:
            verifier.verify_dsse(bundle, identity)
        else:
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=artifact)
            verifier.verify_artifact(hashed, bundle, identity)
    except _PolicyRefusalError as exc:
        raise _refuse(exc.reason, str(exc)) from exc
    except (SigstoreError, ValueError) as exc:
        raise _refuse(_classify(exc), str(exc).splitlines()[0]) from exc
    assert identity.matched is not None
    return identity.matched.describe()


def _classify(exc: Exception) -> Reason:
    """The reason code for an exception from sigstore-python's bundle checks."""
    text = str(exc)
    rules = (
        (
            ("invalid log entry", "log entry is inconsistent", "log entry payload"),
            Reason.TLOG_INVALID,
        ),
        (("SCT", "Key usage", "Extended usage", "signing cert"), Reason.CERT_CHAIN_INVALID),
        (("message digest mismatch",), Reason.ARTIFACT_MISMATCH),
        (("DSSE: invalid signature", "invalid for input"), Reason.BAD_SIGNATURE),
        (("verified time", "Timestamp", "timestamp"), Reason.TIMESTAMP_INVALID),
        (("log entry", "checkpoint", "inclusion"), Reason.TLOG_INVALID),
        (("trusted root",), Reason.TRUST_ROOT_INVALID),
    )
    if isinstance(exc, CertValidationError):
        return Reason.CERT_CHAIN_INVALID
    if isinstance(exc, InvalidBundle):
        missing = any(s in text for s in _NO_EVIDENCE)
        return Reason.NO_LOG_EVIDENCE if missing else Reason.BUNDLE_INVALID
    for needles, reason in rules:
        if any(n in text for n in needles):
            return reason
    return Reason.BUNDLE_INVALID


def _statement(message: BundleMessage, digest: Sha256) -> Statement:
    """The DSSE payload (verified above) as an in-toto statement about ``digest``."""
    envelope = message.dsse_envelope
    assert envelope is not None
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise _refuse(Reason.ATTESTATION_INVALID, f"payloadType {envelope.payload_type!r}")
    try:
        statement = parse_statement(envelope.payload)
    except ValueError as exc:
        raise _refuse(Reason.ATTESTATION_INVALID, f"in-toto statement: {exc}") from exc
    if not statement.decide_about(digest):
        raise _refuse(Reason.SUBJECT_MISMATCH, f"no subject of the statement has digest {digest}")
    return statement


def assess_blob(
    name: str, *, digest: Sha256, bundle: bytes, policy: SignaturePolicy, now: datetime
) -> VerificationResult:
    """``verify blob``: the verdict on a detached artifact and its bundle, as a result."""
    try:
        verified = decide_bundle(bundle, digest=digest, policy=policy, now=now)
    except GateError as exc:
        reason = Reason(exc.reason_code)
        message = describe_refusal(exc)
        return VerificationResult.refused(
            name, reason, message, (Check("bundle", 0, reason, message),)
        )
    kind = verified.statement.predicate_type if verified.statement else None
    check = Check("bundle", 0, None, "valid", key=verified.signer, predicate_type=kind)
    return VerificationResult(name, None, f"signed by {verified.signer}", (check,))
