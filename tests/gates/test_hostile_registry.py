"""A hostile registry cannot crash or exhaust the gates: deeply nested JSON manifests and
token answers are refusals, and a signature manifest with hundreds of layers is refused
before any layer is fetched."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from mlrollout.errors import RegistryError
from mlrollout.gates import GatePolicy, Reason, SignaturePolicy
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.strictjson import load_strict_json
from mlrollout.gates.verify import fetch_verification
from mlrollout.model import ImageRef

from .fake_registry import FakeRegistry
from .publish import push_image, push_layers
from .signer import CosignTestSigner

HOST = "registry.test"
SIGNER = CosignTestSigner("ci")
POLICY = GatePolicy(signature=SignaturePolicy(keys=(SIGNER.trusted(),)))
NOW = datetime(2025, 1, 1, tzinfo=UTC)
DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


@pytest.mark.parametrize(
    "data",
    [DEEP, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 70 + b"1" + b"}" * 70],
    ids=["deep-object", "deep-array", "just-past-the-limit"],
)
def test_deeply_nested_json_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        load_strict_json(data)


def _client(registry: FakeRegistry) -> RegistryClient:
    return RegistryClient(HOST, transport=registry.transport, sleep=lambda _: None)


def test_a_deeply_nested_manifest_is_a_refusal_not_a_crash() -> None:
    registry = FakeRegistry()
    digest = hashlib.sha256(DEEP).hexdigest()
    registry.put_manifest(
        "ml/deep", f"sha256:{digest}", DEEP, "application/vnd.oci.image.manifest.v1+json"
    )
    image = ImageRef(repository=f"{HOST}/ml/deep", digest=f"sha256:{digest}")  # type: ignore[arg-type]
    with _client(registry) as client:
        try:
            result = fetch_verification(image, POLICY, client=client, now=NOW)
        except RegistryError:
            return
    assert not result.verified


def test_hundreds_of_signature_layers_are_refused_before_fetching_them() -> None:
    registry = FakeRegistry()
    digest = push_image(registry, "ml/many", b"many")
    image = ImageRef(repository=f"{HOST}/ml/many", digest=digest)
    payload = SIGNER.payload(image.repository, str(image.digest), None)
    layers = [SIGNER.layer(payload)] * 200
    push_layers(registry, image.path, f"sha256-{image.digest.hex}.sig", layers)
    fetched: list[str] = []
    original = registry.handle

    def counting(request):  # type: ignore[no-untyped-def]
        fetched.append(request.url.path)
        return original(request)

    registry.handle = counting  # type: ignore[method-assign]
    with _client(registry) as client:
        result = fetch_verification(image, POLICY, client=client, now=NOW)
    assert result.reason is Reason.TOO_MANY_REFERRERS
    assert "has more than 32 layers" in result.message
    assert [p for p in fetched if "/manifests/" in p]
    assert not [p for p in fetched if "/blobs/" in p]


def test_the_limit_is_not_a_refusal_for_a_normal_signature() -> None:
    registry = FakeRegistry()
    digest = push_image(registry, "ml/one", b"one")
    image = ImageRef(repository=f"{HOST}/ml/one", digest=digest)
    payload = SIGNER.payload(image.repository, str(image.digest), None)
    push_layers(registry, image.path, f"sha256-{image.digest.hex}.sig", [SIGNER.layer(payload)])
    with _client(registry) as client:
        assert fetch_verification(image, POLICY, client=client, now=NOW).verified
