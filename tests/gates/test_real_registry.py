"""Against the real docker-registry (Debian, distribution 2.8) on loopback: push, sign, verify.

Covers anonymous access, a fault proxy (wrong manifest bytes, 503, reset, stall) and token
auth with a JWT issuer whose certificate is the registry's ``rootcertbundle``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from mlrollout.errors import RegistryError
from mlrollout.gates import GatePolicy, Reason, SignaturePolicy
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.registry_auth import Credentials
from mlrollout.gates.verify import fetch_verification
from mlrollout.model import ImageRef

from .publish import RegistryPusher, push_image, push_signature
from .real_registry import PASSWORD, USER, FaultProxy, TokenIssuer, start_registry
from .signer import CosignTestSigner

pytestmark = pytest.mark.registry

NOW = datetime.now(UTC)
SIGNER = CosignTestSigner("ci")
POLICY = GatePolicy(signature=SignaturePolicy(keys=(SIGNER.trusted(),)))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture(scope="module")
def signed(registry: str) -> ImageRef:
    with RegistryPusher(f"http://{registry}") as pusher:
        digest = push_image(pusher, "ml/fraud", b"model server layer")
        image = ImageRef(repository=f"{registry}/ml/fraud", digest=digest)
        push_signature(pusher, image, SIGNER, optional={"model_sha256": "ab" * 32})
    return image


def _verify(host: str, image: ImageRef, **kwargs: object) -> Reason | None:
    client = RegistryClient(host, sleep=lambda _: None, timeout=0.5, **kwargs)  # type: ignore[arg-type]
    with client:
        return fetch_verification(image, POLICY, client=client, now=NOW).reason


def test_pushed_and_signed_image_verifies(signed: ImageRef, registry: str) -> None:
    assert _verify(registry, signed) is None


def test_unsigned_image_on_the_real_registry(registry: str) -> None:
    with RegistryPusher(f"http://{registry}") as pusher:
        digest = push_image(pusher, "ml/unsigned", b"layer")
    assert _verify(registry, ImageRef(f"{registry}/ml/unsigned", digest)) is Reason.UNSIGNED


def test_untrusted_signer_on_the_real_registry(registry: str) -> None:
    with RegistryPusher(f"http://{registry}") as pusher:
        digest = push_image(pusher, "ml/stranger", b"stranger layer")
        image = ImageRef(f"{registry}/ml/stranger", digest)
        push_signature(pusher, image, CosignTestSigner("stranger"))
    assert _verify(registry, image) is Reason.UNTRUSTED_KEY


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("pass", None),
        ("wrong-manifest", Reason.MANIFEST_DIGEST_MISMATCH),
        ("503", Reason.REGISTRY_UNAVAILABLE),
        ("reset", Reason.REGISTRY_UNAVAILABLE),
        ("stall", Reason.REGISTRY_UNAVAILABLE),
    ],
)
def test_fault_proxy(signed: ImageRef, registry: str, mode: str, expected: Reason | None) -> None:
    proxy = FaultProxy(registry)
    proxy.mode = mode
    with proxy.serve() as host:
        mirrored = ImageRef(f"{host}/ml/fraud", signed.digest)
        mirrors = {f"{host}/ml/fraud": signed.repository}
        policy = GatePolicy(
            signature=SignaturePolicy(keys=POLICY.signature.keys, identity_mirrors=mirrors)
        )
        client = RegistryClient(host, sleep=lambda _: None, timeout=0.5)
        with client:
            result = fetch_verification(mirrored, policy, client=client, now=NOW)
    assert result.reason is expected, result.message


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TokenIssuer]]:
    directory: Path = tmp_path_factory.mktemp("token-registry")
    issuer = TokenIssuer(directory)
    with (
        issuer.serve() as realm,
        start_registry(directory, token_realm=realm, bundle=issuer.bundle) as host,
    ):
        yield host, issuer


def test_token_auth_push_sign_verify(token_registry: tuple[str, TokenIssuer]) -> None:
    host, issuer = token_registry
    token = issuer.token("repository:ml/secure:pull,push")
    auth = {"authorization": f"Bearer {token}"}
    with RegistryPusher(f"http://{host}", headers=auth) as pusher:
        digest = push_image(pusher, "ml/secure", b"secure layer")
        image = ImageRef(f"{host}/ml/secure", digest)
        push_signature(pusher, image, SIGNER)
    before = issuer.issued
    assert _verify(host, image, credentials=Credentials(USER, PASSWORD)) is None
    assert issuer.issued == before + 1  # one token for the repository scope, then cached
    assert _verify(host, image) is Reason.REGISTRY_UNAVAILABLE
    assert _verify(host, image, credentials=Credentials(USER, "wrong")) is (
        Reason.REGISTRY_UNAVAILABLE
    )


def test_token_auth_ping(token_registry: tuple[str, TokenIssuer]) -> None:
    host, _ = token_registry
    assert httpx.get(f"http://{host}/v2/").status_code == 401
    with RegistryClient(host, credentials=Credentials(USER, PASSWORD)) as client:
        client.fetch_ping()
    with RegistryClient(host) as client, pytest.raises(RegistryError):
        client.fetch_ping()
