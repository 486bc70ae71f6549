"""OCI and Docker manifests: media types, descriptors, and strict parsing of raw bytes.

Pure; ``oci`` hands it the raw bytes it fetched (and hashed), ``verify`` reads the layers of
signature manifests and the entries of indexes from the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlrollout.gates.strictjson import expect_object, expect_string, load_strict_json
from mlrollout.model import Sha256

__all__ = [
    "IMAGE_MANIFEST_TYPES",
    "INDEX_TYPES",
    "MANIFEST_ACCEPT",
    "Descriptor",
    "Manifest",
    "parse_manifest",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_ACCEPT = ", ".join(sorted(IMAGE_MANIFEST_TYPES | INDEX_TYPES))


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what it is, its digest and size, its annotations."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str]
    artifact_type: str | None = None


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: raw bytes, the digest computed from them, and its entries.

    ``descriptors`` are the layers of an image manifest or the manifests of an index.
    """

    media_type: str
    raw: bytes
    digest: Sha256
    descriptors: tuple[Descriptor, ...]
    artifact_type: str | None = None

    @property
    def is_index(self) -> bool:
        """True for an OCI image index or a Docker manifest list."""
        return self.media_type in INDEX_TYPES


def _descriptor(value: Any, where: str) -> Descriptor:
    obj = expect_object(value, where)
    size = obj.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"{where}.size must be a non-negative integer")
    annotations = expect_object(obj.get("annotations", {}), f"{where}.annotations")
    if not all(isinstance(v, str) for v in annotations.values()):
        raise ValueError(f"{where}.annotations values must be strings")
    artifact = obj.get("artifactType")
    return Descriptor(
        media_type=expect_string(obj.get("mediaType"), f"{where}.mediaType"),
        digest=expect_string(obj.get("digest"), f"{where}.digest"),
        size=size,
        annotations=annotations,
        artifact_type=artifact if isinstance(artifact, str) else None,
    )


def parse_manifest(raw: bytes, *, digest: Sha256, content_type: str | None) -> Manifest:
    """Parse an image manifest or index; ``ValueError`` for anything else or malformed."""
    doc = expect_object(load_strict_json(raw), "manifest")
    if doc.get("schemaVersion") != 2:
        raise ValueError("manifest schemaVersion must be 2")
    declared = doc.get("mediaType")
    header = (content_type or "").split(";")[0].strip() or None
    media_type = declared if isinstance(declared, str) else header
    if media_type not in IMAGE_MANIFEST_TYPES | INDEX_TYPES:
        raise ValueError(f"unsupported manifest media type {media_type!r}")
    assert media_type is not None
    key = "manifests" if media_type in INDEX_TYPES else "layers"
    entries = doc.get(key, [])
    if not isinstance(entries, list):
        raise ValueError(f"manifest {key} must be a list")
    artifact = doc.get("artifactType")
    return Manifest(
        media_type=media_type,
        raw=raw,
        digest=digest,
        descriptors=tuple(_descriptor(e, f"{key}[{i}]") for i, e in enumerate(entries)),
        artifact_type=artifact if isinstance(artifact, str) else None,
    )
