"""Test support: key-signed Sigstore v0.3 bundles, as ``cosign sign[-blob] --key`` writes
them with ``--tlog-upload=false`` (a public-key hint, no log entry).

``message_bundle`` signs an artifact's SHA-256 (hashedrekord style); ``dsse_bundle`` wraps
an in-toto statement in a DSSE envelope (what cosign v3 stores for images and attestations).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from mlrollout.gates.dsse import compute_pae

from .signer import CosignTestSigner

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _material(signer: CosignTestSigner) -> dict[str, Any]:
    # like cosign: no "tlogEntries" key at all when nothing was logged (proto3 JSON)
    return {"publicKey": {"hint": signer.name}}


def message_bundle(signer: CosignTestSigner, artifact: bytes) -> bytes:
    """A v0.3 bundle with a message signature over ``artifact``."""
    digest = hashlib.sha256(artifact).digest()
    signature = signer.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    doc = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": _material(signer),
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
            "signature": _b64(signature),
        },
    }
    return json.dumps(doc).encode()


def statement(digest_hex: str, predicate_type: str, predicate: dict[str, Any] | None) -> bytes:
    """An in-toto v1 statement about one subject."""
    doc: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "subject", "digest": {"sha256": digest_hex}}],
        "predicateType": predicate_type,
    }
    if predicate is not None:
        doc["predicate"] = predicate
    return json.dumps(doc).encode()


def dsse_bundle(
    signer: CosignTestSigner, payload: bytes, *, payload_type: str = "application/vnd.in-toto+json"
) -> bytes:
    """A v0.3 bundle with a DSSE envelope over ``payload``."""
    signature = signer.private_key.sign(
        compute_pae(payload_type, payload), ec.ECDSA(hashes.SHA256())
    )
    doc = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": _material(signer),
        "dsseEnvelope": {
            "payload": _b64(payload),
            "payloadType": payload_type,
            "signatures": [{"sig": _b64(signature)}],
        },
    }
    return json.dumps(doc).encode()


OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_bundle(
    store: Any,
    repository: str,
    subject: tuple[str, int],
    bundle: bytes,
    *,
    tag_schema: bool = False,
    artifact_type: str = BUNDLE_V03,
) -> str:
    """Push ``bundle`` as an OCI 1.1 referrer of ``subject`` (digest, manifest size).

    With ``tag_schema`` the referrers index at tag ``sha256-<hex>`` is updated too, as
    cosign does on registries without the referrers API. Returns the referrer's digest.
    """
    store.put_blob(repository, b"{}")
    store.put_blob(repository, bundle)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_TYPE, "size": 2, "digest": _sha(b"{}")},
        "layers": [{"mediaType": BUNDLE_V03, "size": len(bundle), "digest": _sha(bundle)}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject[0], "size": subject[1]},
    }
    manifest = json.dumps(doc).encode()
    digest = _sha(manifest)
    store.put_manifest(repository, digest, manifest, OCI_MANIFEST)
    if tag_schema:
        tag = subject[0].replace(":", "-")
        entry = {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": len(manifest),
            "artifactType": artifact_type,
        }
        existing = store.manifests.get((repository, tag)) if hasattr(store, "manifests") else None
        entries = json.loads(existing[0])["manifests"] if existing else []
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*entries, entry]}
        store.put_manifest(repository, tag, json.dumps(index).encode(), OCI_INDEX)
    return digest
