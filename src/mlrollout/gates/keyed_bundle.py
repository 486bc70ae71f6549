"""Key-signed Sigstore bundles (``publicKey`` verification material), written by hand.

Used by ``bundle`` when a bundle names a public key instead of carrying a certificate (what
``cosign sign --key`` writes in the v3 bundle format). sigstore-python 4.5 cannot verify
these: its ``Bundle`` refuses any bundle without a certificate and its ``Verifier`` only
knows certificate chains. So the signature check is done here against the policy's trusted
P-256 keys; the transparency-log entry is still verified by the library
(``sigstore.models.TransparencyLogEntry``: Merkle inclusion proof, signed checkpoint, SET)
against the operator's trusted root, and its body is checked here to record this very
signature, key and artifact digest (hashedrekord 0.0.1/0.0.2, dsse 0.0.1).

Raises ``GateError`` with a reason code; returns the trusted keys that signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sigstore._internal.trust import KeyringPurpose
from sigstore.errors import Error as SigstoreError
from sigstore.models import TransparencyLogEntry, TrustedRoot
from sigstore_models.bundle.v1 import Bundle as BundleMessage
from sigstore_models.rekor.v1 import TransparencyLogEntry as EntryMessage

from mlrollout.errors import GateError
from mlrollout.gates.dsse import compute_pae
from mlrollout.gates.policy import TrustedKey
from mlrollout.gates.reasons import Reason

__all__ = ["decide_keyed_bundle"]


def _refuse(reason: Reason, message: str) -> GateError:
    return GateError(reason.value, message)


def _signed_message(bundle: BundleMessage, digest: bytes) -> tuple[bytes, bytes, bool]:
    """(signature, message, prehashed): what the key must have signed."""
    if bundle.dsse_envelope is not None:
        envelope = bundle.dsse_envelope
        if len(envelope.signatures) != 1:
            raise _refuse(Reason.BUNDLE_INVALID, "DSSE envelope must have exactly one signature")
        return (
            envelope.signatures[0].sig,
            compute_pae(envelope.payload_type, envelope.payload),
            False,
        )
    signature = bundle.message_signature
    if signature is None:
        raise _refuse(Reason.BUNDLE_INVALID, "bundle has neither a message signature nor DSSE")
    if signature.message_digest is not None and signature.message_digest.digest != digest:
        raise _refuse(Reason.ARTIFACT_MISMATCH, "bundle message digest differs from the artifact")
    return signature.signature, digest, True


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes, pre: bool) -> bool:
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()) if pre else hashes.SHA256())
    try:
        key.verify(signature, message, algorithm)
    except InvalidSignature:
        return False
    return True


def decide_keyed_bundle(
    bundle: BundleMessage,
    *,
    digest: bytes,
    keys: Sequence[TrustedKey],
    trusted_root: TrustedRoot | None,
    require_tlog: bool,
    now: datetime,
) -> list[TrustedKey]:
    """Verify a key-signed bundle over an artifact whose SHA-256 is ``digest``."""
    if not keys:
        raise _refuse(Reason.UNTRUSTED_KEY, "bundle is signed with a key; no trusted key given")
    signature, message, prehashed = _signed_message(bundle, digest)
    signers = [k for k in keys if _verifies(k.key, signature, message, prehashed)]
    if not signers:
        raise _refuse(
            Reason.UNTRUSTED_KEY, "bundle signature does not verify under any trusted key"
        )
    valid = [k for k in signers if k.decide_valid_at(now)]
    if not valid:
        raise _refuse(Reason.UNTRUSTED_KEY, "signing key is outside its validity window")
    entries = bundle.verification_material.tlog_entries
    if not entries and require_tlog:
        raise _refuse(Reason.NO_LOG_EVIDENCE, "bundle has no transparency-log entry")
    if not entries or (trusted_root is None and not require_tlog):
        return valid  # the log is not required and cannot be checked: ignored, as cosign
    if trusted_root is None:
        raise _refuse(Reason.TRUST_ROOT_INVALID, "a trusted root is needed to verify the log entry")
    for entry in entries:
        _verify_entry(entry, trusted_root)
        _check_entry_body(entry, bundle, key=valid[0].key, signature=signature, digest=digest)
    return valid


def _verify_entry(entry: EntryMessage, trusted_root: TrustedRoot) -> None:
    try:
        TransparencyLogEntry(entry)._verify(trusted_root.rekor_keyring(KeyringPurpose.VERIFY))
    except SigstoreError as exc:
        raise _refuse(Reason.TLOG_INVALID, f"transparency-log entry: {exc}") from exc


def _get(doc: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(doc, dict) or name not in doc:
            raise _refuse(Reason.TLOG_INVALID, f"log entry body lacks {'.'.join(path)}")
        doc = doc[name]
    return doc


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise _refuse(Reason.TLOG_INVALID, "log entry body field is not base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise _refuse(Reason.TLOG_INVALID, "log entry body field is not base64") from exc


def _same_key(logged: bytes, key: ec.EllipticCurvePublicKey, *, pem: bool) -> bool:
    try:
        loaded = (
            serialization.load_pem_public_key(logged)
            if pem
            else serialization.load_der_public_key(logged)
        )
    except (ValueError, TypeError):
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return loaded.public_bytes(der, spki) == key.public_bytes(der, spki)


def _check_entry_body(
    entry: EntryMessage,
    bundle: BundleMessage,
    *,
    key: ec.EllipticCurvePublicKey,
    signature: bytes,
    digest: bytes,
) -> None:
    """The log entry records this signature by this key over this content."""
    try:
        body = json.loads(entry.canonicalized_body)
    except ValueError as exc:
        raise _refuse(Reason.TLOG_INVALID, "log entry body is not JSON") from exc
    kind = (body.get("kind"), body.get("apiVersion"))
    if kind != (entry.kind_version.kind, entry.kind_version.version):
        raise _refuse(Reason.TLOG_INVALID, "log entry body kind differs from its kindVersion")
    envelope = bundle.dsse_envelope
    if kind == ("hashedrekord", "0.0.1") and envelope is None:
        ok = (
            _get(body, "spec", "data", "hash") == {"algorithm": "sha256", "value": digest.hex()}
            and _b64(_get(body, "spec", "signature", "content")) == signature
            and _same_key(
                _b64(_get(body, "spec", "signature", "publicKey", "content")), key, pem=True
            )
        )
    elif kind == ("hashedrekord", "0.0.2"):
        logged = _get(body, "spec", "hashedRekordV002")
        content = (
            digest
            if envelope is None
            else hashlib.sha256(compute_pae(envelope.payload_type, envelope.payload)).digest()
        )
        ok = (
            _b64(_get(logged, "data", "digest")) == content
            and _b64(_get(logged, "signature", "content")) == signature
            and _same_key(
                _b64(_get(logged, "signature", "verifier", "publicKey", "rawBytes")), key, pem=False
            )
        )
    elif kind == ("dsse", "0.0.1") and envelope is not None:
        payload_hash = {
            "algorithm": "sha256",
            "value": hashlib.sha256(envelope.payload).hexdigest(),
        }
        logged_sigs = _get(body, "spec", "signatures")
        ok = (
            _get(body, "spec", "payloadHash") == payload_hash
            and isinstance(logged_sigs, list)
            and len(logged_sigs) == 1
            and _b64(_get(logged_sigs[0], "signature")) == signature
            and _same_key(_b64(_get(logged_sigs[0], "verifier")), key, pem=True)
        )
    else:
        raise _refuse(Reason.TLOG_INVALID, f"unsupported log entry kind {kind[0]}/{kind[1]}")
    if not ok:
        raise _refuse(Reason.TLOG_INVALID, "log entry is inconsistent with the bundle")
