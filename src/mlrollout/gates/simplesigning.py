"""Strict parsing of cosign's simple-signing payload and the identity rules applied to it.

Called by ``cosign`` only after the payload's signature verified (never parse unverified
bytes). Exact key sets at every level, duplicate keys refused, ``critical.type`` pinned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlrollout.gates.strictjson import (
    expect_keys,
    expect_object,
    expect_string,
    load_strict_json,
)
from mlrollout.model import ImageRef, Sha256

__all__ = [
    "COSIGN_SIGNATURE_TYPE",
    "SimpleSigningPayload",
    "compute_repository_identity",
    "parse_simple_signing",
]

COSIGN_SIGNATURE_TYPE = "cosign container image signature"
_ANY_DIGEST = Sha256("0" * 64)


@dataclass(frozen=True)
class SimpleSigningPayload:
    """The signed claims: which manifest digest, which repository, optional annotations."""

    docker_reference: str
    manifest_digest: Sha256
    optional: Mapping[str, Any]


def parse_simple_signing(data: bytes) -> SimpleSigningPayload:
    """Parse verified payload bytes; ``ValueError`` names the first structural problem."""
    top = expect_object(load_strict_json(data), "payload")
    expect_keys(top, "payload", required={"critical", "optional"})
    critical = expect_object(top["critical"], "critical")
    expect_keys(critical, "critical", required={"identity", "image", "type"})
    kind = expect_string(critical["type"], "critical.type")
    if kind != COSIGN_SIGNATURE_TYPE:
        raise ValueError(f"critical.type must be {COSIGN_SIGNATURE_TYPE!r}, got {kind!r}")
    identity = expect_object(critical["identity"], "critical.identity")
    expect_keys(identity, "critical.identity", required={"docker-reference"})
    image = expect_object(critical["image"], "critical.image")
    expect_keys(image, "critical.image", required={"docker-manifest-digest"})
    digest_text = expect_string(
        image["docker-manifest-digest"], "critical.image.docker-manifest-digest"
    )
    if not digest_text.startswith("sha256:"):
        raise ValueError(f"docker-manifest-digest must be sha256:<hex>, got {digest_text!r}")
    optional = top["optional"]
    if optional is not None:
        optional = expect_object(optional, "optional")
    return SimpleSigningPayload(
        docker_reference=expect_string(
            identity["docker-reference"], "critical.identity.docker-reference"
        ),
        manifest_digest=Sha256.parse(digest_text),
        optional=optional or {},
    )


def compute_repository_identity(reference: str) -> str:
    """Normalise ``host/repo[:tag][@digest]`` to ``host/repo`` (Docker Hub spelled out)."""
    name = reference.partition("@")[0]
    head, slash, last = name.rpartition("/")
    if ":" in last:
        name = head + slash + last.rsplit(":", 1)[0]
    ref = ImageRef(repository=name, digest=_ANY_DIGEST)
    return f"{ref.registry}/{ref.path}"
