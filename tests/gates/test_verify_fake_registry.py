"""``fetch_verification`` over a registry-shaped endpoint: vectors, tampering, faults."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from mlrollout.gates import GatePolicy, Reason, SignaturePolicy
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.verify import fetch_verification
from mlrollout.model import ImageRef, Sha256

from .fake_registry import FakeRegistry
from .publish import push_image, push_layers, push_signature
from .signer import CosignTestSigner
from .vectors import (
    TAGGED_IDENTITY,
    VALID_IDENTITY,
    VECTORS,
    key,
    manifest_bytes,
    read_layers,
    read_signature,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
HOST = "registry.test"
SIGNER = CosignTestSigner("ci")
POLICY = GatePolicy(signature=SignaturePolicy(keys=(SIGNER.trusted(),)))
VECTOR_POLICY = GatePolicy(signature=SignaturePolicy(keys=(key("cosign.pub"),)))


def _client(registry: FakeRegistry, **kwargs: object) -> RegistryClient:
    return RegistryClient(HOST, transport=registry.transport, sleep=lambda _: None, **kwargs)  # type: ignore[arg-type]


def _verify(registry: FakeRegistry, image: ImageRef, policy: GatePolicy = POLICY) -> Reason | None:
    with _client(registry) as client:
        return fetch_verification(image, policy, client=client, now=NOW).reason


def _signed_image(registry: FakeRegistry, name: str = "ml/fraud") -> ImageRef:
    digest = push_image(registry, name, name.encode())
    image = ImageRef(repository=f"{HOST}/{name}", digest=digest)
    push_signature(registry, image, SIGNER)
    return image


def _serve_vector(registry: FakeRegistry, directory: str, repo: str) -> ImageRef:
    """Put a vector's manifest and its signature layers where cosign would have pushed them."""
    manifest = manifest_bytes(directory)
    digest = Sha256(hashlib.sha256(manifest).hexdigest())
    registry.put_manifest(
        repo, str(digest), manifest, "application/vnd.docker.distribution.manifest.v2+json"
    )
    push_layers(registry, repo, f"sha256-{digest.hex}.sig", read_layers(directory))
    return ImageRef(repository=f"{HOST}/{repo}", digest=digest)


@pytest.mark.parametrize(
    ("directory", "identity", "expected"),
    [
        ("dir-img-cosign-valid", VALID_IDENTITY, None),
        ("dir-img-cosign-valid-2", VALID_IDENTITY, None),
        ("dir-img-cosign-valid-with-tag", TAGGED_IDENTITY, None),
        ("dir-img-cosign-modified-manifest", VALID_IDENTITY, Reason.MANIFEST_DIGEST_MISMATCH),
        ("dir-img-cosign-other-attachment", VALID_IDENTITY, Reason.UNSIGNED),
    ],
    ids=["valid", "valid-2", "valid-with-tag", "modified-manifest", "other-attachment"],
)
def test_vectors_served_by_a_registry(directory: str, identity: str, expected: Reason) -> None:
    registry = FakeRegistry()
    image = _serve_vector(registry, directory, "mirror/sample")
    mirrors = {f"{HOST}/mirror/sample": identity}
    policy = GatePolicy(signature=replace(VECTOR_POLICY.signature, identity_mirrors=mirrors))
    assert _verify(registry, image, policy) is expected


def test_unknown_key_vector_served_by_a_registry() -> None:
    registry = FakeRegistry()
    image = _serve_vector(registry, "dir-img-cosign-valid", "mirror/sample")
    layer = read_signature(VECTORS / "unknown-cosign-key.signature")
    push_layers(registry, "mirror/sample", f"sha256-{image.digest.hex}.sig", [layer])
    mirrors = {f"{HOST}/mirror/sample": VALID_IDENTITY}
    policy = GatePolicy(signature=replace(VECTOR_POLICY.signature, identity_mirrors=mirrors))
    assert _verify(registry, image, policy) is Reason.UNTRUSTED_KEY


def test_signed_image_verifies() -> None:
    registry = FakeRegistry()
    assert _verify(registry, _signed_image(registry)) is None


def test_unsigned_image() -> None:
    registry = FakeRegistry()
    digest = push_image(registry, "ml/fraud", b"x")
    assert _verify(registry, ImageRef(f"{HOST}/ml/fraud", digest)) is Reason.UNSIGNED


def test_missing_image() -> None:
    image = ImageRef(f"{HOST}/ml/fraud", Sha256("e" * 64))
    assert _verify(FakeRegistry(), image) is Reason.IMAGE_NOT_FOUND


def test_a_tag_schema_referrer_that_is_missing_is_not_a_signature() -> None:
    registry = FakeRegistry(referrers_api=False)
    digest = push_image(registry, "ml/fraud", b"x")
    index = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":'
        b'[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:'
        + b"f" * 64
        + b'","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}]}'
    )
    registry.put_manifest(
        "ml/fraud", f"sha256-{digest.hex}", index, "application/vnd.oci.image.index.v1+json"
    )
    assert _verify(registry, ImageRef(f"{HOST}/ml/fraud", digest)) is Reason.UNSIGNED


def test_signature_of_image_a_copied_to_image_b() -> None:
    registry = FakeRegistry()
    a = _signed_image(registry, "ml/fraud")
    b_digest = push_image(registry, "ml/fraud", b"other content")
    sig = registry.manifests[("ml/fraud", f"sha256-{a.digest.hex}.sig")]
    registry.put_manifest("ml/fraud", f"sha256-{b_digest.hex}.sig", *sig)
    assert _verify(registry, ImageRef(a.repository, b_digest)) is Reason.MANIFEST_DIGEST_MISMATCH


def test_payload_blob_replaced_in_the_registry() -> None:
    registry = FakeRegistry()
    image = _signed_image(registry)
    sig_manifest = registry.manifests[("ml/fraud", f"sha256-{image.digest.hex}.sig")][0]
    layer_digest = sig_manifest.decode().split('"digest": "')[2].split('"')[0]
    registry.blobs[layer_digest] = registry.blobs[layer_digest].replace(b"ml/fraud", b"ml/fraux")
    assert _verify(registry, image) is Reason.BLOB_DIGEST_MISMATCH


def test_size_that_lies_in_the_registry() -> None:
    registry = FakeRegistry()
    digest = push_image(registry, "ml/fraud", b"x")
    image = ImageRef(f"{HOST}/ml/fraud", digest)
    layer = SIGNER.layer(SIGNER.payload(image.repository, str(digest)))
    push_layers(
        registry, "ml/fraud", f"sha256-{digest.hex}.sig", [replace(layer, size=layer.size - 1)]
    )
    assert _verify(registry, image) is Reason.BLOB_DIGEST_MISMATCH


def _wrong_manifest(request: httpx.Request) -> httpx.Response | None:
    if "/manifests/sha256:" in request.url.path:
        return httpx.Response(
            200,
            content=b'{"schemaVersion":2}',
            headers={"docker-content-digest": request.url.path.rsplit("/", 1)[1]},
        )
    return None


def _status(code: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code)


def _raise(exc: type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    def fault(request: httpx.Request) -> httpx.Response:
        raise exc("injected", request=request)  # type: ignore[call-arg]

    return fault


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (_wrong_manifest, Reason.MANIFEST_DIGEST_MISMATCH),
        (_status(500), Reason.REGISTRY_UNAVAILABLE),
        (_status(503), Reason.REGISTRY_UNAVAILABLE),
        (_status(429), Reason.REGISTRY_UNAVAILABLE),
        (_status(403), Reason.REGISTRY_UNAVAILABLE),
        (_raise(httpx.ReadTimeout), Reason.REGISTRY_UNAVAILABLE),
        (_raise(httpx.ConnectError), Reason.REGISTRY_UNAVAILABLE),
        (_raise(httpx.RemoteProtocolError), Reason.REGISTRY_UNAVAILABLE),
    ],
    ids=["wrong-digest", "500", "503", "429", "403", "timeout", "refused", "reset"],
)
def test_registry_faults_fail_closed(
    fault: Callable[[httpx.Request], httpx.Response | None], expected: Reason
) -> None:
    registry = FakeRegistry()
    image = _signed_image(registry)
    registry.faults.append(fault)
    assert _verify(registry, image) is expected


def test_transient_fault_is_retried_then_passes() -> None:
    registry = FakeRegistry()
    image = _signed_image(registry)
    failures = iter([httpx.Response(503), httpx.Response(502)])
    registry.faults.append(lambda request: next(failures, None))
    assert _verify(registry, image) is None


def test_tokens_with_bearer_auth_and_one_refetch_on_invalid_token() -> None:
    registry = FakeRegistry(auth="bearer")
    image = _signed_image(registry)
    from mlrollout.gates.registry_auth import Credentials

    with _client(registry, credentials=Credentials("ci", "s3cret")) as client:
        assert fetch_verification(image, POLICY, client=client, now=NOW).verified
        token_calls = sum(r.url.host == "auth.test" for r in registry.requests)
        registry.valid_tokens.clear()
        assert fetch_verification(image, POLICY, client=client, now=NOW).verified
    assert token_calls == 1
    assert sum(r.url.host == "auth.test" for r in registry.requests) == 2


def test_bearer_without_credentials_is_refused_by_the_token_endpoint() -> None:
    registry = FakeRegistry(auth="bearer")
    image = _signed_image(registry)
    assert _verify(registry, image) is Reason.REGISTRY_UNAVAILABLE


def test_basic_auth() -> None:
    from mlrollout.gates.registry_auth import Credentials

    registry = FakeRegistry(auth="basic")
    image = _signed_image(registry)
    with _client(registry, credentials=Credentials("ci", "s3cret")) as client:
        assert fetch_verification(image, POLICY, client=client, now=NOW).verified


def test_redirected_blobs_do_not_carry_authorization() -> None:
    from mlrollout.gates.registry_auth import Credentials

    registry = FakeRegistry(auth="bearer", redirect_blobs=True)
    image = _signed_image(registry)
    with _client(registry, credentials=Credentials("ci", "s3cret")) as client:
        assert fetch_verification(image, POLICY, client=client, now=NOW).verified
    cdn = [r for r in registry.requests if r.url.host == "cdn.test"]
    assert cdn
    assert all("authorization" not in r.headers for r in cdn)
    own = [r for r in registry.requests if r.url.host == HOST and "/blobs/" in r.url.path]
    assert any("authorization" in r.headers for r in own)
