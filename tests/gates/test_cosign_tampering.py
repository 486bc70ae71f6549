"""Every tampering case that needs no registry is refused with its reason code."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mlrollout.gates import BlobLayer, Reason, SignaturePolicy, assess_signatures
from mlrollout.gates.cosign import SIGNATURE_ANNOTATION
from mlrollout.model import ImageRef, Sha256

from .signer import CosignTestSigner

NOW = datetime(2025, 6, 1, tzinfo=UTC)
REPO = "registry.example.com/ml/fraud"
IMAGE_A = ImageRef(repository=REPO, digest=Sha256("a" * 64))
IMAGE_B = ImageRef(repository=REPO, digest=Sha256("b" * 64))
SIGNER = CosignTestSigner("ci")
POLICY = SignaturePolicy(keys=(SIGNER.trusted(),))


def _payload(image: ImageRef = IMAGE_A, **optional: str) -> bytes:
    return SIGNER.payload(image.repository, str(image.digest), optional or None)


def _raw_layer(payload: bytes) -> BlobLayer:
    return SIGNER.layer(payload)


def _assess(
    layers: list[BlobLayer], *, image: ImageRef = IMAGE_A, policy: SignaturePolicy = POLICY
) -> Reason | None:
    return assess_signatures(image=image, layers=layers, policy=policy, now=NOW).reason


def _with_blob(layer: BlobLayer, blob: bytes, *, fix_descriptor: bool) -> BlobLayer:
    if not fix_descriptor:
        return replace(layer, blob=blob)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    return replace(layer, blob=blob, digest=digest, size=len(blob))


def _with_signature(layer: BlobLayer, text: str) -> BlobLayer:
    return replace(layer, annotations={SIGNATURE_ANNOTATION: text})


def test_a_good_signature_verifies() -> None:
    assert _assess([SIGNER.layer(_payload())]) is None


def test_no_signature_is_unsigned() -> None:
    assert _assess([]) is Reason.UNSIGNED


def test_untrusted_key() -> None:
    stranger = CosignTestSigner("stranger")
    assert _assess([stranger.layer(_payload())]) is Reason.UNTRUSTED_KEY


def test_payload_blob_replaced_behind_the_descriptor() -> None:
    layer = SIGNER.layer(_payload())
    forged = _payload(IMAGE_B)
    assert _assess([_with_blob(layer, forged, fix_descriptor=False)]) is Reason.BLOB_DIGEST_MISMATCH


def test_payload_blob_and_descriptor_replaced() -> None:
    layer = SIGNER.layer(_payload())
    forged = _payload(IMAGE_B)
    tampered = _with_blob(layer, forged, fix_descriptor=True)
    assert _assess([tampered], image=IMAGE_B) is Reason.UNTRUSTED_KEY


def test_size_that_lies() -> None:
    layer = SIGNER.layer(_payload())
    assert _assess([replace(layer, size=layer.size + 1)]) is Reason.BLOB_DIGEST_MISMATCH


def test_non_sha256_descriptor_digest() -> None:
    layer = SIGNER.layer(_payload())
    assert _assess([replace(layer, digest="sha512:" + "0" * 128)]) is Reason.BLOB_DIGEST_MISMATCH


def test_signature_for_image_a_copied_onto_image_b() -> None:
    assert _assess([SIGNER.layer(_payload(IMAGE_A))], image=IMAGE_B) is (
        Reason.MANIFEST_DIGEST_MISMATCH
    )


@pytest.mark.parametrize(
    "payload",
    [
        b'{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":'
        b'"%s"},"type":"atomic container signature"},"optional":null}',
        b'{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":'
        b'"%s"},"type":"cosign container image signature","type":"cosign container image '
        b'signature"},"optional":null}',
        b'{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":'
        b'"%s"},"type":"cosign container image signature","extra":1},"optional":null}',
        b'{"critical":{"identity":{"docker-reference":"%s","x":1},"image":{"docker-manifest-'
        b'digest":"%s"},"type":"cosign container image signature"},"optional":null}',
        b'{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":'
        b'"%s"},"type":"cosign container image signature"}}',
        b'{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":'
        b'"%s"},"type":"cosign container image signature"},"optional":null,"optional":null}',
        b'{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":'
        b'"%s"},"type":"cosign container image signature"},"optional":[]}',
        b'{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":'
        b'"%s"},"type":"cosign container image signature"},"optional":NaN}',
        b"\xff\xfe not utf-8 %s %s",
    ],
    ids=[
        "wrong-type",
        "duplicate-key",
        "unknown-critical-key",
        "unknown-identity-key",
        "missing-optional",
        "duplicate-top-level-key",
        "optional-not-object",
        "nan",
        "not-utf8",
    ],
)
def test_malformed_signed_payload_is_a_bad_signature(payload: bytes) -> None:
    body = payload % (REPO.encode(), str(IMAGE_A.digest).encode())
    assert _assess([SIGNER.layer(body)]) is Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "signature",
    [
        "not base64!",
        base64.b64encode(b"\x30\x03\x02\x01").decode(),
        base64.b64encode(b"random bytes that are not DER").decode(),
        "",
    ],
    ids=["bad-base64", "truncated-der", "not-der", "empty"],
)
def test_bad_signature_encoding(signature: str) -> None:
    layer = _with_signature(SIGNER.layer(_payload()), signature)
    assert _assess([layer]) is Reason.BAD_SIGNATURE


def test_non_canonical_der_is_refused() -> None:
    layer = SIGNER.layer(_payload())
    der = base64.b64decode(layer.annotations[SIGNATURE_ANNOTATION])
    padded = bytes([0x30, 0x81, der[1]]) + der[2:]
    assert _assess([_with_signature(layer, base64.b64encode(padded).decode())]) is (
        Reason.BAD_SIGNATURE
    )


def test_missing_signature_annotation() -> None:
    layer = replace(SIGNER.layer(_payload()), annotations={})
    assert _assess([layer]) is Reason.BAD_SIGNATURE


def test_identity_mismatch() -> None:
    other = ImageRef(repository="registry.example.com/ml/other", digest=IMAGE_A.digest)
    assert _assess([SIGNER.layer(_payload(other))]) is Reason.IDENTITY_MISMATCH


def test_identity_mirror_map_allows_a_mirror() -> None:
    mirrored = ImageRef(repository="mirror.local:5000/fraud", digest=IMAGE_A.digest)
    policy = replace(POLICY, identity_mirrors={"mirror.local:5000/fraud": REPO})
    assert _assess([SIGNER.layer(_payload())], image=mirrored) is Reason.IDENTITY_MISMATCH
    assert _assess([SIGNER.layer(_payload())], image=mirrored, policy=policy) is None


def test_docker_hub_names_are_normalised() -> None:
    image = ImageRef(repository="nginx", digest=IMAGE_A.digest)
    payload = SIGNER.payload("docker.io/library/nginx:1.27", str(IMAGE_A.digest))
    assert _assess([SIGNER.layer(payload)], image=image) is None


@pytest.mark.parametrize(
    ("optional", "expected"),
    [
        ({"model_sha256": "c" * 64}, None),
        ({"model_sha256": "d" * 64}, Reason.POLICY_ANNOTATION),
        ({}, Reason.POLICY_ANNOTATION),
    ],
    ids=["matches", "different", "absent"],
)
def test_required_annotation(optional: dict[str, str], expected: Reason | None) -> None:
    policy = replace(POLICY, required_annotations={"model_sha256": "c" * 64})
    assert _assess([SIGNER.layer(_payload(**optional))], policy=policy) is expected


def test_key_outside_its_validity_window() -> None:
    expired = SIGNER.trusted(not_after=NOW - timedelta(days=1))
    future = SIGNER.trusted(not_before=NOW + timedelta(days=1))
    for entry in (expired, future):
        policy = SignaturePolicy(keys=(entry,))
        assert _assess([SIGNER.layer(_payload())], policy=policy) is Reason.UNTRUSTED_KEY


def test_threshold_counts_distinct_keys() -> None:
    second = CosignTestSigner("release-manager")
    policy = SignaturePolicy(keys=(SIGNER.trusted(), second.trusted()), threshold=2)
    one = SIGNER.layer(_payload())
    assert _assess([one, SIGNER.layer(_payload())], policy=policy) is Reason.UNTRUSTED_KEY
    assert _assess([one, second.layer(_payload())], policy=policy) is None


def test_one_good_signature_among_bad_ones_suffices() -> None:
    stranger = CosignTestSigner("stranger")
    assert _assess([stranger.layer(_payload()), SIGNER.layer(_payload())]) is None


def test_policy_refuses_an_unreachable_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        SignaturePolicy(keys=(SIGNER.trusted(), SIGNER.trusted()), threshold=2)


def test_policy_refuses_other_curves() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = p384.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="P-256"):
        SignaturePolicy(keys=(SIGNER.trusted(), type(SIGNER.trusted()).from_pem(pem, name="x")))
