"""Test support: a cosign-format signer on ``cryptography``.

Produces exactly what ``cosign sign --key`` writes for the legacy format: the compact
simple-signing payload and a base64 DER ECDSA P-256/SHA-256 signature annotation. A test
checks its payload is byte-identical to the real vectors.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlrollout.gates import BlobLayer, TrustedKey
from mlrollout.gates.cosign import SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE


class CosignTestSigner:
    """An ECDSA P-256 key that signs simple-signing payloads as cosign does."""

    def __init__(self, name: str = "test-key") -> None:
        self.name = name
        self.private_key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_pem(self) -> bytes:
        """The ``cosign.pub`` of this signer."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def trusted(self, **window: Any) -> TrustedKey:
        """This signer's public key as a policy entry."""
        return TrustedKey.from_pem(self.public_pem, name=self.name, **window)

    @staticmethod
    def payload(identity: str, digest: str, optional: dict[str, Any] | None = None) -> bytes:
        """The simple-signing payload bytes cosign writes (compact JSON, fixed key order)."""
        doc = {
            "critical": {
                "identity": {"docker-reference": identity},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": optional,
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def sign(self, payload: bytes) -> str:
        """Base64 of the DER signature over ``payload``."""
        der = self.private_key.sign(payload, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(der).decode()

    def layer(self, payload: bytes, *, signature: str | None = None) -> BlobLayer:
        """A signature layer over ``payload`` (``signature`` overrides the annotation)."""
        return BlobLayer(
            media_type=SIMPLE_SIGNING_MEDIA_TYPE,
            digest="sha256:" + hashlib.sha256(payload).hexdigest(),
            size=len(payload),
            annotations={SIGNATURE_ANNOTATION: signature or self.sign(payload)},
            blob=payload,
        )
