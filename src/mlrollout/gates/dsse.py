"""DSSE envelopes: strict parsing, the pre-authentication encoding, signature verification.

Used by ``attestations``; the payload is returned only from bytes whose signature verified
under a trusted key, so nothing downstream ever reads an unverified statement. ``keyid`` is
informational and never used to choose or trust a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mlrollout.errors import GateError
from mlrollout.gates.cosign import decide_trusted_signers
from mlrollout.gates.keys import decode_der_signature
from mlrollout.gates.policy import TrustedKey
from mlrollout.gates.reasons import Reason
from mlrollout.gates.strictjson import (
    decode_base64,
    expect_keys,
    expect_object,
    expect_string,
    load_strict_json,
)

__all__ = ["VerifiedPayload", "compute_pae", "decide_envelope"]


@dataclass(frozen=True)
class VerifiedPayload:
    """An envelope's payload after its signature verified, with the keys that signed it."""

    payload_type: str
    body: bytes
    signers: tuple[TrustedKey, ...]


def compute_pae(payload_type: str, body: bytes) -> bytes:
    """``DSSEv1 SP len(type) SP type SP len(body) SP body`` (lengths in decimal bytes)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)


def _invalid(message: str) -> GateError:
    return GateError(Reason.ATTESTATION_INVALID.value, message)


def decide_envelope(blob: bytes, *, keys: Sequence[TrustedKey], now: datetime) -> VerifiedPayload:
    """Verify an envelope; ``GateError`` (ATTESTATION_INVALID / UNTRUSTED_KEY) otherwise."""
    try:
        doc = expect_object(load_strict_json(blob), "envelope")
        expect_keys(doc, "envelope", required={"payload", "payloadType", "signatures"})
        payload_type = expect_string(doc["payloadType"], "payloadType")
        body = decode_base64(expect_string(doc["payload"], "payload"), "payload", url_safe_ok=True)
        signatures = _signatures(doc["signatures"])
    except ValueError as exc:
        raise _invalid(f"malformed DSSE envelope: {exc}") from exc
    message = compute_pae(payload_type, body)
    signers: dict[str, TrustedKey] = {}
    last: GateError | None = None
    for der in signatures:
        try:
            for key in decide_trusted_signers(der, message, keys=keys, now=now):
                signers[key.key_id] = key
        except GateError as exc:
            last = exc
    if not signers:
        raise last or _invalid("envelope has no signatures")
    return VerifiedPayload(payload_type, body, tuple(signers.values()))


def _signatures(value: object) -> list[bytes]:
    if not isinstance(value, list) or not value:
        raise ValueError("signatures must be a non-empty list")
    out = []
    for index, entry in enumerate(value):
        obj = expect_object(entry, f"signatures[{index}]")
        expect_keys(obj, f"signatures[{index}]", required={"sig"}, optional=frozenset({"keyid"}))
        out.append(decode_der_signature(expect_string(obj["sig"], "sig"), url_safe_ok=True))
    return out
