"""Trusted public keys: PEM loading pinned to ECDSA P-256, key ids, signature checks.

Used by ``cosign`` (simple-signing layers) and ``dsse`` (attestation envelopes); the policy
(``policy.TrustedKey``) holds loaded keys. Only P-256 with SHA-256 is accepted: a key of any
other curve or algorithm is refused at load, so policy cannot silently widen.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from mlrollout.gates.strictjson import decode_base64

__all__ = [
    "compute_key_id",
    "decide_signature_valid",
    "decode_der_signature",
    "load_p256_public_key",
]


def load_p256_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """Load a PEM SubjectPublicKeyInfo and insist on ECDSA P-256; ``ValueError`` otherwise."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"key must be ECDSA P-256, got {type(key).__name__}")
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"key must be on curve P-256, got {key.curve.name}")
    return key


def compute_key_id(key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo: a stable name for reports, never for trust."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def decide_signature_valid(
    key: ec.EllipticCurvePublicKey, *, der_signature: bytes, message: bytes
) -> bool:
    """True when ``der_signature`` is a valid ECDSA/SHA-256 signature of ``message``."""
    try:
        key.verify(der_signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def decode_der_signature(text: str, *, url_safe_ok: bool = False) -> bytes:
    """Base64 text to canonical DER ECDSA signature bytes; ``ValueError`` on anything else."""
    der = decode_base64(text, "signature", url_safe_ok=url_safe_ok)
    r, s = decode_dss_signature(der)
    if encode_dss_signature(r, s) != der:
        raise ValueError("signature DER is not in canonical form")
    return der
