"""``spec.gates.signature`` keyless identities and trusted root, mapped by the controller
onto the gates policy and judged on a real Sigstore bundle attached to an image digest.

The bundle is the conformance suite's keyless ``happy-path-v0.3`` (a message signature
over ``a.txt``); the "image" is given that digest, as a cosign v3 referrer would bind it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlrollout.errors import SpecError
from mlrollout.gates import BlobLayer, Reason
from mlrollout.gates.cosign import assess_signatures
from mlrollout.gates.gate_spec import compute_gate_policy
from mlrollout.gates.referrers import assess_bundles
from mlrollout.model import ImageRef, Sha256
from mlrollout.spec.policy import Gates

SUITE = Path(__file__).parent.parent / "data" / "sigstore-conformance"
ROOT = SUITE / "public-good-trusted_root.json"
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
WRONG_IDENTITY = Reason.CERT_IDENTITY_MISMATCH
WRONG_ISSUER = Reason.CERT_ISSUER_MISMATCH


def _gates(keyless: dict[str, str], root: Path = ROOT) -> Gates:
    doc = {"signature": {"keyless": [keyless], "trustedRoot": {"file": str(root)}}}
    return Gates.model_validate(doc)


def _verdict(bundle: Path, gates: Gates) -> Reason | None:
    policy = compute_gate_policy(gates)
    assert policy is not None
    artifact = (SUITE / "a.txt").read_bytes()
    image = ImageRef("registry.test/ml/fraud", Sha256(hashlib.sha256(artifact).hexdigest()))
    blob = bundle.read_bytes()
    layer = BlobLayer(
        media_type="application/vnd.dev.sigstore.bundle.v0.3+json",
        digest="sha256:" + hashlib.sha256(blob).hexdigest(),
        size=len(blob),
        annotations={},
        blob=blob,
    )
    found = assess_bundles(image=image, layers=[layer], policy=policy.signature, now=NOW)
    result = assess_signatures(
        image=image,
        layers=[],
        policy=policy.signature,
        now=NOW,
        bundled=(found.signature_checks, found.signers),
    )
    return result.reason


@pytest.mark.parametrize(
    ("keyless", "reason"),
    [
        ({"issuer": ISSUER, "identity": IDENTITY}, None),
        ({"issuer": ISSUER, "identityRegexp": "https://github.com/sigstore-conformance/.*"}, None),
        (
            {"issuer": ISSUER, "identity": "https://github.com/acme/x"},
            Reason.CERT_IDENTITY_MISMATCH,
        ),
        (
            {"issuer": "https://accounts.google.com", "identity": IDENTITY},
            Reason.CERT_ISSUER_MISMATCH,
        ),
    ],
    ids=["exact", "regexp", "wrong-identity", "wrong-issuer"],
)
def test_keyless_policy_from_the_spec(keyless: dict[str, str], reason: Reason | None) -> None:
    bundle = SUITE / "happy-path-v0.3" / "bundle.sigstore.json"
    assert _verdict(bundle, _gates(keyless)) is reason


def test_bundle_without_log_evidence_is_refused() -> None:
    bundle = SUITE / "rekor2-no-timestamp_fail" / "bundle.sigstore.json"
    gates = _gates(
        {"issuer": ISSUER, "identity": IDENTITY},
        root=SUITE / "rekor2-no-timestamp_fail" / "trusted_root.json",
    )
    assert _verdict(bundle, gates) is Reason.NO_LOG_EVIDENCE


def test_unreadable_trusted_root_is_a_spec_error(tmp_path: Path) -> None:
    gates = _gates({"issuer": ISSUER, "identity": IDENTITY}, root=tmp_path / "missing.json")
    with pytest.raises(SpecError, match=r"spec\.gates\.signature\.trustedRoot"):
        compute_gate_policy(gates)
