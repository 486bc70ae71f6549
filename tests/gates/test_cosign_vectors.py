"""Real cosign and containers/image signatures give the result their README table states."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from mlrollout.gates import Reason, SignaturePolicy, assess_signatures

from .signer import CosignTestSigner
from .vectors import (
    TAGGED_IDENTITY,
    VALID_IDENTITY,
    VECTORS,
    image_of,
    key,
    read_layers,
    read_signature,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
COSIGN = SignaturePolicy(keys=(key("cosign.pub"),))


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
def test_vector_table_with_cosign_pub(directory: str, identity: str, expected: Reason) -> None:
    result = assess_signatures(
        image=image_of(directory, identity), layers=read_layers(directory), policy=COSIGN, now=NOW
    )
    assert result.reason == expected, result.message


def test_two_signatures_by_one_key_count_once() -> None:
    result = assess_signatures(
        image=image_of("dir-img-cosign-valid-2"),
        layers=read_layers("dir-img-cosign-valid-2"),
        policy=COSIGN,
        now=NOW,
    )
    assert [c.passed for c in result.checks] == [True, True]
    assert result.message == "signed by 1 trusted signer(s)"


def test_unknown_key_signature_is_untrusted() -> None:
    layer = read_signature(VECTORS / "unknown-cosign-key.signature")
    policy = SignaturePolicy(keys=(key("cosign.pub"), key("cosign2.pub")))
    result = assess_signatures(
        image=image_of("dir-img-cosign-valid"), layers=[layer], policy=policy, now=NOW
    )
    assert result.reason is Reason.UNTRUSTED_KEY


def test_only_cosign2_pub_refuses_the_valid_image() -> None:
    policy = SignaturePolicy(keys=(key("cosign2.pub"),))
    result = assess_signatures(
        image=image_of("dir-img-cosign-valid"),
        layers=read_layers("dir-img-cosign-valid"),
        policy=policy,
        now=NOW,
    )
    assert result.reason is Reason.UNTRUSTED_KEY


def test_threshold_of_two_keys_is_not_met_by_one() -> None:
    policy = SignaturePolicy(keys=(key("cosign.pub"), key("cosign2.pub")), threshold=2)
    result = assess_signatures(
        image=image_of("dir-img-cosign-valid"),
        layers=read_layers("dir-img-cosign-valid"),
        policy=policy,
        now=NOW,
    )
    assert result.reason is Reason.UNTRUSTED_KEY
    assert "requires 2" in result.message


def test_skopeo_signature_keeps_its_optional_annotations() -> None:
    policy = SignaturePolicy(
        keys=(key("cosign.pub"),),
        required_annotations={"creator": "containers/image 5.21.2-dev"},
    )
    result = assess_signatures(
        image=image_of("dir-img-cosign-valid-with-tag", TAGGED_IDENTITY),
        layers=read_layers("dir-img-cosign-valid-with-tag"),
        policy=policy,
        now=NOW,
    )
    assert result.verified, result.message


def test_test_signer_writes_byte_identical_payloads() -> None:
    layer = read_layers("dir-img-cosign-valid")[0]
    digest = str(image_of("dir-img-cosign-valid").digest)
    assert CosignTestSigner.payload(VALID_IDENTITY, digest) == layer.blob


def test_vector_signatures_are_canonical_der() -> None:
    for layer in read_layers("dir-img-cosign-valid-2"):
        der = base64.b64decode(layer.annotations["dev.cosignproject.cosign/signature"])
        assert der[0] == 0x30
        assert der[1] == len(der) - 2
