"""sigstore-python's ``Verifier``, with two gaps of sigstore 4.5 closed, for offline use.

Used by ``bundle`` for certificate (keyless) bundles; everything else -- the Fulcio chain at
the signing time, SCTs, the identity policy, Merkle inclusion proofs, checkpoints, SETs and
RFC 3161 timestamps -- is the library's own verification. The library reaches no network
when it verifies: it is constructed here from the operator's ``trusted_root.json`` only.

The gaps (both make a conformance case fail with the library alone):

* a signed timestamp whose time equals the end of its authority's validity period in the
  trusted root is refused by the library; validity periods are inclusive (conformance case
  ``trust-root-tsa-validity-end-inclusive``), so ``_verify_signed_timestamp`` is redone with
  an inclusive end;
* DSSE bundles whose Rekor v1 entry is of kind ``intoto/0.0.2`` (what older cosign and npm
  wrote) are refused as an unsupported kind (sigstore-python issue 1384); here the SET time
  of such an entry counts like that of ``dsse/0.0.1`` and the entry's recorded payload hash,
  payload type, signatures and signing certificate are checked against the bundle.

This module reaches into documented-private members of sigstore 4.5 (``_establish_time``,
``_verify_common_signing_cert``); ``pyproject.toml`` pins ``sigstore>=4.5.1,<4.6`` and the
conformance test exercises both paths, so a change in the library shows as a test failure.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rfc3161_client import TimeStampResponse, VerifierBuilder
from rfc3161_client import VerificationError as Rfc3161VerificationError
from sigstore import dsse
from sigstore._internal.timestamp import TimestampSource, TimestampVerificationResult
from sigstore.errors import VerificationError
from sigstore.models import Bundle
from sigstore.verify import Verifier
from sigstore.verify.policy import VerificationPolicy

__all__ = ["OfflineVerifier"]

_INTOTO = ("intoto", "0.0.2")


class OfflineVerifier(Verifier):
    """A ``Verifier`` for one trusted root, with inclusive TSA validity and intoto/0.0.2."""

    def _verify_signed_timestamp(
        self, timestamp_response: TimeStampResponse, message: bytes
    ) -> TimestampVerificationResult | None:
        generated = timestamp_response.tst_info.gen_time
        for authority in self._trusted_root.get_timestamp_authorities():
            chain = authority.certificates(allow_expired=True)
            if len(chain) < 2:
                continue
            builder = VerifierBuilder().tsa_certificate(chain[0]).add_root_certificate(chain[-1])
            for intermediate in chain[1:-1]:
                builder = builder.add_intermediate_certificate(intermediate)
            try:
                builder.build().verify_message(timestamp_response, message)
            except Rfc3161VerificationError:
                continue
            end = authority.validity_period_end
            if authority.validity_period_start <= generated and (end is None or generated <= end):
                return TimestampVerificationResult(
                    source=TimestampSource.TIMESTAMP_AUTHORITY, time=generated
                )
        return None

    def _establish_time(self, bundle: Bundle) -> list[TimestampVerificationResult]:
        entry = bundle.log_entry._inner
        kind = (entry.kind_version.kind, entry.kind_version.version)
        if kind != _INTOTO:
            return super()._establish_time(bundle)
        times: list[TimestampVerificationResult] = []
        if bundle.verification_material.timestamp_verification_data:
            if not self._trusted_root.get_timestamp_authorities():
                raise VerificationError("bundle has signed timestamps, trusted root has no TSA")
            times.extend(self._verify_timestamp_authority(bundle))
        if entry.integrated_time and entry.inclusion_promise:
            integrated = datetime.fromtimestamp(entry.integrated_time, tz=UTC)
            times.append(
                TimestampVerificationResult(
                    source=TimestampSource.TRANSPARENCY_SERVICE, time=integrated
                )
            )
        return times

    def verify_dsse(self, bundle: Bundle, policy: VerificationPolicy) -> tuple[str, bytes]:
        """The library's DSSE verification, plus bundles logged as ``intoto/0.0.2``."""
        kind = bundle.log_entry._inner.kind_version
        if (kind.kind, kind.version) != _INTOTO:
            return super().verify_dsse(bundle, policy)
        self._verify_common_signing_cert(bundle, policy)
        envelope = bundle._dsse_envelope
        if envelope is None:
            raise VerificationError("intoto log entry but the bundle has no DSSE envelope")
        key = bundle.signing_certificate.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise VerificationError("signing certificate key is not ECDSA")
        dsse._verify(key, envelope)
        _check_intoto_entry(bundle, envelope)
        return envelope._inner.payload_type, envelope._inner.payload


def _b64(text: object, what: str, *, twice: bool = False) -> bytes:
    """Decode base64 text (``twice``: base64 of base64, as intoto/0.0.2 records it)."""
    if not isinstance(text, str):
        raise VerificationError(f"intoto log entry: {what} is not a string")
    try:
        raw = base64.b64decode(text, validate=True)
        return base64.b64decode(raw, validate=True) if twice else raw
    except ValueError as exc:
        raise VerificationError(f"intoto log entry: {what} is not base64") from exc


def _field(doc: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(doc, dict) or name not in doc:
            raise VerificationError(f"intoto log entry lacks {'.'.join(path)}")
        doc = doc[name]
    return doc


def _check_intoto_entry(bundle: Bundle, envelope: dsse.Envelope) -> None:
    """The logged entry records this envelope: payload hash and type, signatures, cert."""
    try:
        body = json.loads(bundle.log_entry._inner.canonicalized_body)
    except ValueError as exc:
        raise VerificationError("intoto log entry body is not JSON") from exc
    if (body.get("kind"), body.get("apiVersion")) != _INTOTO:
        raise VerificationError("log entry body is not intoto/0.0.2")
    content = _field(body, "spec", "content")
    payload = envelope._inner.payload
    recorded_hash = _field(content, "payloadHash")
    if recorded_hash != {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}:
        raise VerificationError("log entry payload hash does not match the bundle")
    logged = _field(content, "envelope")
    if logged.get("payloadType") != envelope._inner.payload_type:
        raise VerificationError("log entry payload type does not match the bundle")
    if "payload" in logged and _b64(logged["payload"], "payload", twice=True) != payload:
        raise VerificationError("log entry payload does not match the bundle")
    signatures = _field(logged, "signatures")
    if not isinstance(signatures, list) or len(signatures) != len(envelope._inner.signatures):
        raise VerificationError("log entry signatures do not match the bundle")
    certificate = bundle.signing_certificate.public_bytes(serialization.Encoding.DER)
    for logged_sig, sig in zip(signatures, envelope._inner.signatures, strict=True):
        if _b64(_field(logged_sig, "sig"), "sig", twice=True) != sig.sig:
            raise VerificationError("log entry signature does not match the bundle")
        pem = _b64(_field(logged_sig, "publicKey"), "publicKey")
        try:
            logged_cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise VerificationError("log entry public key is not a certificate") from exc
        if logged_cert.public_bytes(serialization.Encoding.DER) != certificate:
            raise VerificationError("log entry certificate is not the signing certificate")
