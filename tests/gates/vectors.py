"""Test support: read the containers/image cosign vectors in tests/data/cosign.

Each ``signature-N`` file is ``\\x00sigstore-json\\n`` + JSON {mimeType, payload, annotations};
it becomes the ``BlobLayer`` a registry would serve for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from mlrollout.gates import BlobLayer, TrustedKey
from mlrollout.model import ImageRef, Sha256

VECTORS = Path(__file__).resolve().parents[1] / "data" / "cosign"
HEADER = b"\x00sigstore-json\n"
VALID_IDENTITY = "192.168.64.2:5000/cosign-signed-single-sample"
TAGGED_IDENTITY = "192.168.64.2:5000/skopeo-signed"


def read_signature(path: Path) -> BlobLayer:
    """The layer a registry would serve for one on-disk signature."""
    raw = path.read_bytes()
    assert raw.startswith(HEADER), path
    doc = json.loads(raw[len(HEADER) :])
    blob = base64.b64decode(doc["payload"])
    return BlobLayer(
        media_type=doc["mimeType"],
        digest="sha256:" + hashlib.sha256(blob).hexdigest(),
        size=len(blob),
        annotations=dict(doc["annotations"]),
        blob=blob,
    )


def read_layers(directory: str) -> list[BlobLayer]:
    """All signature layers of one vector directory, in file order."""
    return [read_signature(p) for p in sorted((VECTORS / directory).glob("signature-*"))]


def manifest_bytes(directory: str) -> bytes:
    """The signed image manifest of one vector directory."""
    return (VECTORS / directory / "manifest.json").read_bytes()


def image_of(directory: str, repository: str = VALID_IDENTITY) -> ImageRef:
    """The image reference whose digest is the sha256 of the directory's manifest."""
    digest = Sha256(hashlib.sha256(manifest_bytes(directory)).hexdigest())
    return ImageRef(repository=repository, digest=digest)


def key(name: str) -> TrustedKey:
    """A trusted key from a ``*.pub`` vector file."""
    return TrustedKey.from_pem((VECTORS / name).read_bytes(), name=name)
