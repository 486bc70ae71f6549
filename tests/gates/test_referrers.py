"""Sigstore bundles found as OCI 1.1 referrers (cosign v3), through ``fetch_verification``.

Both discovery paths (the referrers API, and the ``sha256-<hex>`` tag schema of registries
without it), the binding of a bundle to the image digest, log evidence, caps, and the same
predicate checks for bundle attestations as for legacy ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from mlrollout.gates import GatePolicy, Reason, SignaturePolicy
from mlrollout.gates.oci import Limits, RegistryClient
from mlrollout.gates.policy import AttestationPolicy, ProvenancePolicy
from mlrollout.gates.verify import fetch_verification
from mlrollout.model import ImageRef

from .bundles import COSIGN_SIGN_PREDICATE, dsse_bundle, message_bundle, push_bundle, statement
from .fake_registry import FakeRegistry
from .publish import push_image, push_signature
from .signer import CosignTestSigner

NOW = datetime(2025, 1, 1, tzinfo=UTC)
HOST = "registry.test"
SIGNER = CosignTestSigner("ci")
OTHER = CosignTestSigner("other")
KEYS = SignaturePolicy(keys=(SIGNER.trusted(),), require_tlog=False)
POLICY = GatePolicy(signature=KEYS)
SLSA = "https://slsa.dev/provenance/v1"
BUILDER = "https://github.com/actions/runner"
PROVENANCE = GatePolicy(
    signature=KEYS,
    attestations=AttestationPolicy(
        provenance=ProvenancePolicy(
            builder_ids=frozenset({BUILDER}),
            source_repositories=frozenset({"https://github.com/acme/fraud"}),
            source_refs=frozenset({"refs/heads/main"}),
        )
    ),
)


def _image(registry: FakeRegistry, content: bytes = b"model server") -> tuple[ImageRef, int]:
    digest = push_image(registry, "ml/fraud", content)
    size = len(registry.manifests[("ml/fraud", str(digest))][0])
    return ImageRef(f"{HOST}/ml/fraud", digest), size


def _sign(
    registry: FakeRegistry,
    image: ImageRef,
    size: int,
    *,
    signer: CosignTestSigner = SIGNER,
    about: str | None = None,
    tag_schema: bool = False,
) -> None:
    payload = statement(about or image.digest.hex, COSIGN_SIGN_PREDICATE, None)
    bundle = dsse_bundle(signer, payload)
    push_bundle(registry, "ml/fraud", (str(image.digest), size), bundle, tag_schema=tag_schema)


def _verify(
    registry: FakeRegistry, image: ImageRef, policy: GatePolicy = POLICY, **limits: int
) -> tuple[Reason | None, str]:
    client = RegistryClient(
        HOST, transport=registry.transport, sleep=lambda _: None, limits=Limits(**limits)
    )
    with client:
        result = fetch_verification(image, policy, client=client, now=NOW)
    return result.reason, result.message


@pytest.mark.parametrize("api", [True, False], ids=["referrers-api", "tag-schema"])
def test_key_signed_bundle_verifies(api: bool) -> None:
    registry = FakeRegistry(referrers_api=api)
    image, size = _image(registry)
    _sign(registry, image, size, tag_schema=not api)
    assert _verify(registry, image)[0] is None


def test_registry_without_referrers_api_and_no_tag_is_unsigned() -> None:
    registry = FakeRegistry(referrers_api=False)
    image, size = _image(registry)
    _sign(registry, image, size, tag_schema=False)
    assert _verify(registry, image)[0] is Reason.UNSIGNED


def test_message_signature_bundle_over_the_manifest_digest_verifies() -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    manifest = registry.manifests[("ml/fraud", str(image.digest))][0]
    push_bundle(registry, "ml/fraud", (str(image.digest), size), message_bundle(SIGNER, manifest))
    assert _verify(registry, image)[0] is None


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong-key", Reason.UNTRUSTED_KEY),
        ("replayed-from-other-image", Reason.SUBJECT_MISMATCH),
        ("log-required", Reason.NO_LOG_EVIDENCE),
        ("annotation-missing", Reason.POLICY_ANNOTATION),
        ("corrupt-blob", Reason.BLOB_DIGEST_MISMATCH),
    ],
    ids=lambda v: str(v),
)
def test_bad_bundles_are_refused(case: str, reason: Reason) -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    other, _ = _image(registry, b"another image")
    policy = POLICY
    if case == "wrong-key":
        _sign(registry, image, size, signer=OTHER)
    elif case == "replayed-from-other-image":
        _sign(registry, image, size, about=other.digest.hex)
    else:
        _sign(registry, image, size)
    if case == "log-required":
        policy = GatePolicy(signature=replace(KEYS, require_tlog=True))
    if case == "annotation-missing":
        policy = GatePolicy(signature=replace(KEYS, required_annotations={"model": "x"}))
    if case == "corrupt-blob":
        for digest, blob in list(registry.blobs.items()):
            if b"dsseEnvelope" in blob:
                registry.blobs[digest] = blob.replace(b"payload", b"paYload")
    assert _verify(registry, image, policy)[0] is reason


def test_legacy_and_bundle_signers_count_together_towards_the_threshold() -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    push_signature(registry, image, OTHER)
    _sign(registry, image, size)
    two = SignaturePolicy(keys=(SIGNER.trusted(), OTHER.trusted()), threshold=2, require_tlog=False)
    assert _verify(registry, image, GatePolicy(signature=two))[0] is None
    registry2 = FakeRegistry()
    image2, _ = _image(registry2)
    push_signature(registry2, image2, OTHER)
    assert _verify(registry2, image2, GatePolicy(signature=two))[0] is Reason.UNTRUSTED_KEY


def test_legacy_signature_keeps_working_next_to_referrers() -> None:
    registry = FakeRegistry()
    image, _ = _image(registry)
    push_signature(registry, image, SIGNER)
    assert _verify(registry, image)[0] is None


def _provenance(builder: str, digest_hex: str) -> bytes:
    predicate = {
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {
                "workflow": {
                    "repository": "https://github.com/acme/fraud",
                    "ref": "refs/heads/main",
                    "path": ".github/workflows/build.yml",
                }
            },
            "resolvedDependencies": [],
        },
        "runDetails": {"builder": {"id": builder}, "metadata": {}},
    }
    return dsse_bundle(SIGNER, statement(digest_hex, SLSA, predicate))


@pytest.mark.parametrize(
    ("builder", "reason"),
    [(BUILDER, None), ("https://evil.example/builder", Reason.PROVENANCE_BUILDER)],
    ids=["allowed-builder", "wrong-builder"],
)
def test_bundle_provenance_faces_the_same_predicate_checks(
    builder: str, reason: Reason | None
) -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    _sign(registry, image, size)
    push_bundle(
        registry, "ml/fraud", (str(image.digest), size), _provenance(builder, image.digest.hex)
    )
    got, message = _verify(registry, image, PROVENANCE)
    assert got is reason, message


def test_missing_provenance_referrer_is_refused() -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    _sign(registry, image, size)
    assert _verify(registry, image, PROVENANCE)[0] is Reason.ATTESTATION_MISSING


def test_referrer_count_is_capped() -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    for _ in range(3):
        _sign(registry, image, size)
    _sign(registry, image, size, signer=OTHER)
    _sign(registry, image, size, about="1" * 64)
    assert _verify(registry, image, max_referrers=2)[0] is Reason.TOO_MANY_REFERRERS


def test_referrer_pages_are_followed_on_the_same_origin_only() -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    _sign(registry, image, size)
    empty = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [],
    }

    def first_page(request: httpx.Request) -> httpx.Response | None:
        if "/referrers/" in request.url.path and "page" not in request.url.params:
            link = f'<{request.url.path}?page=2>; rel="next"'
            return httpx.Response(200, json=empty, headers={"link": link})
        return None

    registry.faults.append(first_page)
    assert _verify(registry, image)[0] is None
    assert any("page=2" in str(r.url) for r in registry.requests)


def test_a_referrer_index_that_is_not_an_index_is_refused() -> None:
    registry = FakeRegistry()
    image, _ = _image(registry)
    registry.faults.append(
        lambda r: (
            httpx.Response(200, json={"schemaVersion": 2, "layers": []})
            if "/referrers/" in r.url.path
            else None
        )
    )
    assert _verify(registry, image)[0] is Reason.MANIFEST_UNSUPPORTED


def test_statement_hash_binding() -> None:
    """Sanity: the fixture statement names the image digest it was made for."""
    digest = hashlib.sha256(b"x").hexdigest()
    doc = json.loads(statement(digest, COSIGN_SIGN_PREDICATE, None))
    assert doc["subject"][0]["digest"]["sha256"] == digest


@pytest.mark.parametrize(
    ("signed", "reason"),
    [({"model_sha256": "ab" * 32}, None), ({"model_sha256": "cd" * 32}, Reason.POLICY_ANNOTATION)],
    ids=["annotation-matches", "annotation-differs"],
)
def test_required_annotations_are_read_from_the_signed_subject(
    signed: dict[str, str], reason: Reason | None
) -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    doc = json.loads(statement(image.digest.hex, COSIGN_SIGN_PREDICATE, {}))
    doc["subject"][0]["annotations"] = signed
    bundle = dsse_bundle(SIGNER, json.dumps(doc).encode())
    push_bundle(registry, "ml/fraud", (str(image.digest), size), bundle)
    policy = GatePolicy(signature=replace(KEYS, required_annotations={"model_sha256": "ab" * 32}))
    assert _verify(registry, image, policy)[0] is reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, None),
        (405, None),
        (500, Reason.REGISTRY_UNAVAILABLE),
        (403, Reason.REGISTRY_UNAVAILABLE),
    ],
    ids=["400-falls-back", "405-falls-back", "500-fails-closed", "403-fails-closed"],
)
def test_a_registry_refusing_the_referrers_endpoint(status: int, reason: Reason | None) -> None:
    registry = FakeRegistry()
    image, size = _image(registry)
    _sign(registry, image, size, tag_schema=True)
    registry.faults.append(
        lambda r: httpx.Response(status) if "/referrers/" in r.url.path else None
    )
    assert _verify(registry, image)[0] is reason
