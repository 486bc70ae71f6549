"""``compute_effective_gates``: policy minimums merged into a rollout's gates, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from mlrollout.errors import SpecError
from mlrollout.spec.governance import compute_effective_gates, select_policies
from mlrollout.spec.policy import Gates
from mlrollout.spec.release_policy import (
    ClusterReleasePolicy,
    load_release_policies,
    load_release_policy_object,
)

PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
ISSUER = "https://token.actions.githubusercontent.com"
CI = {"issuer": ISSUER, "identity": "https://github.com/acme/ml/.github/workflows/r.yml@main"}
ROOT = {"file": "/etc/mlrollout/trusted_root.json"}


def policy(name: str = "prod", **spec: Any) -> ClusterReleasePolicy:
    body = {"namespaceSelector": {"matchLabels": {"env": "prod"}}, **spec}
    doc = {
        "apiVersion": "mlrollout.io/v1alpha1",
        "kind": "ClusterReleasePolicy",
        "metadata": {"name": name},
        "spec": body,
    }
    return ClusterReleasePolicy.model_validate(doc)


KEYS = {"signature": {"publicKeys": [{"secret": "ci-key"}]}}
KEYLESS = {"signature": {"keyless": [CI], "trustedRoot": ROOT}}
PROVENANCE = {
    "builderIds": ["https://github.com/actions/runner"],
    "sourceRepos": ["github.com/acme/ml"],
}

REFUSALS = [
    ("no-signature-gate", KEYS, {}, ["spec.gates.signature"]),
    (
        "inline-key-forbidden",
        KEYS,
        {"signature": {"publicKeys": [{"pem": PEM}]}},
        ["spec.gates.signature.publicKeys[0]"],
    ),
    (
        "inline-key-allowed",
        {"signature": {"allowInlineKeys": True}},
        {"signature": {"publicKeys": [{"pem": PEM}]}},
        [],
    ),
    ("trusted-key", KEYS, {"signature": {"publicKeys": [{"secret": "ci-key"}]}}, []),
    (
        "other-secret",
        KEYS,
        {"signature": {"publicKeys": [{"secret": "mine"}]}},
        ["spec.gates.signature.publicKeys[0]"],
    ),
    (
        "other-key-in-secret",
        KEYS,
        {"signature": {"publicKeys": [{"secret": "ci-key", "key": "other.pub"}]}},
        ["spec.gates.signature.publicKeys[0]"],
    ),
    (
        "one-of-two-untrusted",
        KEYS,
        {
            "signature": {
                "publicKeys": [{"secret": "ci-key"}, {"file": "/tmp/k.pub"}],
                "threshold": 1,
            }
        },
        ["spec.gates.signature.publicKeys[1]"],
    ),
    ("any-key-when-no-set", {}, {"signature": {"publicKeys": [{"file": "/k.pub"}]}}, []),
    ("trusted-identity", KEYLESS, {"signature": {"keyless": [CI], "trustedRoot": ROOT}}, []),
    (
        "other-identity",
        KEYLESS,
        {
            "signature": {
                "keyless": [{**CI, "identity": "https://github.com/evil/x"}],
                "trustedRoot": ROOT,
            }
        },
        ["spec.gates.signature.keyless[0]"],
    ),
    (
        "regexp-widening",
        KEYLESS,
        {
            "signature": {
                "keyless": [{"issuer": ISSUER, "identityRegexp": ".*"}],
                "trustedRoot": ROOT,
            }
        },
        ["spec.gates.signature.keyless[0]"],
    ),
    (
        "own-trusted-root",
        KEYLESS,
        {"signature": {"keyless": [CI], "trustedRoot": {"file": "/tmp/root.json"}}},
        ["spec.gates.signature.trustedRoot"],
    ),
    (
        "key-when-only-identities-trusted",
        KEYLESS,
        {"signature": {"publicKeys": [{"secret": "ci-key"}]}},
        ["spec.gates.signature.publicKeys[0]"],
    ),
    (
        "builder-outside-list",
        {"provenance": PROVENANCE},
        {**KEYS, "provenance": {**PROVENANCE, "builderIds": ["https://evil/builder"]}},
        ["spec.gates.provenance.builderIds[0]"],
    ),
    (
        "narrower-provenance",
        {"provenance": {**PROVENANCE, "sourceRepos": ["github.com/acme/ml", "github.com/a/b"]}},
        {**KEYS, "provenance": PROVENANCE},
        [],
    ),
]


@pytest.mark.parametrize(
    ("policy_spec", "gates", "fields"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_refusals_name_the_field_and_policy(
    policy_spec: dict[str, Any], gates: dict[str, Any], fields: list[str]
) -> None:
    outcome = compute_effective_gates(Gates.model_validate(gates), [policy(**policy_spec)])
    assert [r.field for r in outcome.refusals] == fields
    assert outcome.allowed is (not fields)
    for refusal in outcome.refusals:
        assert refusal.policy == "prod"
        assert "ClusterReleasePolicy prod" in str(refusal)


MERGES = [
    ("adds-provenance", {"provenance": PROVENANCE}, {}, "provenance", PROVENANCE["builderIds"]),
    ("adds-sbom", {"sbom": True}, {}, "sbom", True),
    ("keeps-own-sbom", {}, {"sbom": True}, "sbom", True),
    (
        "raises-pod-security",
        {"podSecurity": "restricted"},
        {"podSecurity": "baseline"},
        "pod_security",
        "restricted",
    ),
    ("never-lowers-pod-security", {"podSecurity": "baseline"}, {}, "pod_security", "restricted"),
    (
        "adds-vulnerability-gate",
        {"vulnerabilities": {"maxSeverity": "medium"}},
        {},
        "vulnerabilities",
        "medium",
    ),
    (
        "stricter-vulnerability-wins",
        {"vulnerabilities": {"maxSeverity": "critical"}},
        {"vulnerabilities": {"maxSeverity": "low"}},
        "vulnerabilities",
        "low",
    ),
    (
        "policy-stricter-vulnerability",
        {"vulnerabilities": {"maxSeverity": "none"}},
        {"vulnerabilities": {"maxSeverity": "high"}},
        "vulnerabilities",
        "none",
    ),
]


@pytest.mark.parametrize(
    ("policy_spec", "gates", "attribute", "expected"),
    [m[1:] for m in MERGES],
    ids=[m[0] for m in MERGES],
)
def test_policy_adds_requirements_never_removes(
    policy_spec: dict[str, Any], gates: dict[str, Any], attribute: str, expected: Any
) -> None:
    own = Gates.model_validate({**KEYS, **gates})
    outcome = compute_effective_gates(own, [policy(**policy_spec)])
    assert outcome.allowed
    value = getattr(outcome.gates, attribute)
    if attribute == "provenance":
        value = value.builder_ids
    elif attribute == "vulnerabilities":
        value = value.max_severity
    assert value == expected
    assert outcome.gates.signature == own.signature


def test_every_governing_policy_applies_in_name_order() -> None:
    first = policy("a-sbom", sbom=True)
    second = policy("b-keys", **KEYS)
    outcome = compute_effective_gates(Gates(), [first, second])
    assert outcome.policies == ("a-sbom", "b-keys")
    assert [r.policy for r in outcome.refusals] == ["a-sbom", "b-keys"]
    assert outcome.gates.sbom


SELECTORS = [
    ("match-labels", {"matchLabels": {"env": "prod"}}, {"env": "prod"}, True),
    ("match-labels-other", {"matchLabels": {"env": "prod"}}, {"env": "dev"}, False),
    ("empty-selects-all", {}, {}, True),
    (
        "in",
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
        {"tier": "b"},
        True,
    ),
    (
        "in-missing",
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]},
        {},
        False,
    ),
    (
        "not-in-missing",
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]},
        {},
        True,
    ),
    (
        "not-in",
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]},
        {"tier": "a"},
        False,
    ),
    (
        "exists",
        {"matchExpressions": [{"key": "governed", "operator": "Exists"}]},
        {"governed": ""},
        True,
    ),
    (
        "does-not-exist",
        {"matchExpressions": [{"key": "sandbox", "operator": "DoesNotExist"}]},
        {"sandbox": "1"},
        False,
    ),
    (
        "labels-and-expressions",
        {"matchLabels": {"env": "prod"}, "matchExpressions": [{"key": "x", "operator": "Exists"}]},
        {"env": "prod"},
        False,
    ),
]


@pytest.mark.parametrize(
    ("selector", "labels", "governed"), [s[1:] for s in SELECTORS], ids=[s[0] for s in SELECTORS]
)
def test_namespace_selector(
    selector: dict[str, Any], labels: dict[str, str], governed: bool
) -> None:
    doc = policy().model_dump(by_alias=True, exclude_none=True)
    doc["spec"]["namespaceSelector"] = selector
    chosen = select_policies([ClusterReleasePolicy.model_validate(doc)], labels)
    assert bool(chosen) is governed


BAD = [
    (
        "in-without-values",
        {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
        "spec.namespaceSelector.matchExpressions[0]",
    ),
    (
        "exists-with-values",
        {
            "namespaceSelector": {
                "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
            }
        },
        "spec.namespaceSelector.matchExpressions[0]",
    ),
    (
        "keyless-without-root",
        {"namespaceSelector": {}, "signature": {"keyless": [CI]}},
        "spec.signature",
    ),
    (
        "inline-key-without-allow",
        {"namespaceSelector": {}, "signature": {"publicKeys": [{"pem": PEM}]}},
        "spec.signature",
    ),
    ("no-selector", {}, "spec.namespaceSelector"),
    (
        "unknown-field",
        {"namespaceSelector": {}, "requireEverything": True},
        "spec.requireEverything",
    ),
]


@pytest.mark.parametrize(("spec", "path"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_policy_is_a_spec_error_naming_the_field(spec: dict[str, Any], path: str) -> None:
    doc = {
        "apiVersion": "mlrollout.io/v1alpha1",
        "kind": "ClusterReleasePolicy",
        "metadata": {"name": "p"},
        "spec": spec,
    }
    with pytest.raises(SpecError) as info:
        load_release_policy_object(doc, source="policy.yaml")
    assert info.value.path == path
    assert info.value.source == "policy.yaml"


def test_policy_file_with_two_documents() -> None:
    text = (
        "apiVersion: mlrollout.io/v1alpha1\nkind: ClusterReleasePolicy\nmetadata: {name: a}\n"
        "spec: {namespaceSelector: {}}\n---\n"
        "apiVersion: mlrollout.io/v1alpha1\nkind: ModelRollout\nmetadata: {name: b}\nspec: {}\n"
    )
    with pytest.raises(SpecError) as info:
        load_release_policies(text, source="p.yaml")
    assert str(info.value) == "p.yaml#2: kind: must be ClusterReleasePolicy, got 'ModelRollout'"


@pytest.mark.parametrize(
    ("required", "signed", "fields"),
    [
        (True, False, ["spec.release.model.signature"]),
        (True, True, []),
        (True, None, []),
        (False, False, []),
    ],
    ids=["required-unsigned", "required-signed", "not-judged", "not-required"],
)
def test_policy_can_require_signed_models(
    required: bool, signed: bool | None, fields: list[str]
) -> None:
    governing = policy(requireModelSignature=required)
    outcome = compute_effective_gates(Gates.model_validate(KEYS), [governing], model_signed=signed)
    assert [r.field for r in outcome.refusals] == fields
