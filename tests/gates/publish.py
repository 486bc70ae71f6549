"""Test support: build images, cosign signature and attestation manifests, and push them.

``Store`` is anything that accepts blobs and manifests: the in-memory ``FakeRegistry`` or
``RegistryPusher`` for the real docker-registry. Manifests follow what cosign writes: an
OCI image manifest whose layers carry the signature (or DSSE envelope) blobs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from mlrollout.gates import BlobLayer
from mlrollout.gates.attestations import DSSE_MEDIA_TYPE
from mlrollout.gates.dsse import compute_pae
from mlrollout.model import ImageRef, Sha256

from .signer import CosignTestSigner

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_CONFIG = b"{}"


def sha(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Store(Protocol):
    """Where test artifacts are pushed."""

    def put_blob(self, repository: str, data: bytes) -> None: ...

    def put_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> None: ...


def _descriptor(
    media_type: str, data: bytes, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": media_type, "size": len(data), "digest": sha(data)}
    if annotations:
        out["annotations"] = annotations
    return out


def manifest_for(layers: Sequence[tuple[str, bytes, dict[str, str] | None]]) -> bytes:
    """An OCI image manifest with an empty config and these (media type, blob, annotations)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor("application/vnd.oci.image.config.v1+json", EMPTY_CONFIG),
        "layers": [_descriptor(m, b, a) for m, b, a in layers],
    }
    return json.dumps(doc).encode()


def push_image(store: Store, repository: str, content: bytes) -> Sha256:
    """Push a one-layer image; return its manifest digest."""
    store.put_blob(repository, EMPTY_CONFIG)
    store.put_blob(repository, content)
    manifest = manifest_for([("application/vnd.oci.image.layer.v1.tar", content, None)])
    digest = Sha256(hashlib.sha256(manifest).hexdigest())
    store.put_manifest(repository, str(digest), manifest, OCI_MANIFEST)
    return digest


def push_layers(store: Store, repository: str, tag: str, layers: Sequence[BlobLayer]) -> bytes:
    """Push blobs and a manifest at ``tag`` (descriptors as given, so they may lie)."""
    store.put_blob(repository, EMPTY_CONFIG)
    for layer in layers:
        store.put_blob(repository, layer.blob)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor("application/vnd.oci.image.config.v1+json", EMPTY_CONFIG),
        "layers": [
            {
                "mediaType": x.media_type,
                "size": x.size,
                "digest": x.digest,
                "annotations": dict(x.annotations),
            }
            for x in layers
        ],
    }
    manifest = json.dumps(doc).encode()
    store.put_manifest(repository, tag, manifest, OCI_MANIFEST)
    return manifest


def push_signature(
    store: Store,
    image: ImageRef,
    signer: CosignTestSigner,
    *,
    identity: str | None = None,
    optional: dict[str, Any] | None = None,
) -> None:
    """Sign ``image`` as ``cosign sign --key`` does and push the ``.sig`` manifest."""
    payload = signer.payload(identity or image.repository, str(image.digest), optional)
    tag = f"sha256-{image.digest.hex}.sig"
    push_layers(store, image.path, tag, [signer.layer(payload)])


def envelope(
    signer: CosignTestSigner,
    statement: dict[str, Any],
    *,
    payload_type: str = "application/vnd.in-toto+json",
) -> bytes:
    """A DSSE envelope over ``statement`` signed by ``signer``."""
    body = json.dumps(statement).encode()
    sig = signer.sign(compute_pae(payload_type, body))
    doc = {
        "payloadType": payload_type,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": "", "sig": sig}],
    }
    return json.dumps(doc).encode()


def statement(
    image: ImageRef,
    predicate_type: str,
    predicate: dict[str, Any],
    *,
    subject_digest: str | None = None,
    v01: bool = False,
) -> dict[str, Any]:
    """An in-toto statement about ``image``."""
    version = "v0.1" if v01 else "v1"
    return {
        "_type": f"https://in-toto.io/Statement/{version}",
        "subject": [
            {"name": image.repository, "digest": {"sha256": subject_digest or image.digest.hex}}
        ],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def attestation_layer(blob: bytes, predicate_type: str = "") -> BlobLayer:
    """A cosign ``.att`` layer for an envelope (annotation as cosign writes it)."""
    return BlobLayer(
        media_type=DSSE_MEDIA_TYPE,
        digest=sha(blob),
        size=len(blob),
        annotations={"predicateType": predicate_type},
        blob=blob,
    )


def push_attestations(store: Store, image: ImageRef, blobs: Sequence[BlobLayer]) -> None:
    """Push the ``.att`` manifest of ``image``."""
    push_layers(store, image.path, f"sha256-{image.digest.hex}.att", blobs)


class RegistryPusher:
    """Pushes to a real registry with the distribution API (monolithic uploads)."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers or {}, timeout=10)

    def __enter__(self) -> RegistryPusher:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def put_blob(self, repository: str, data: bytes) -> None:
        start = self.http.post(f"/v2/{repository}/blobs/uploads/")
        assert start.status_code == 202, start.text
        location = httpx.URL(start.headers["location"])
        done = self.http.put(
            location.copy_merge_params({"digest": sha(data)}),
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> None:
        done = self.http.put(
            f"/v2/{repository}/manifests/{reference}",
            content=data,
            headers={"content-type": media_type},
        )
        assert done.status_code == 201, done.text
