"""ClusterReleasePolicy on the real control plane: a rollout in a governed namespace that
removes a requirement is Refused with reason POLICY naming the policy, and the audit log
shows nothing deployed (the controller, as its ServiceAccount with the shipped RBAC, wrote
only the rollout's status, Events and report); outside the selected namespaces, and when
it complies, the rollout proceeds. Each test's policy selects its own namespace only
(``controlplane.policies``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.fixtures import TestBed
from controlplane.policies import (
    GOVERNED,
    ReleasePolicies,
    label,
    own_policy,
    release_policies,
)
from controlplane.rollouts import check_audit, run_rollout
from controlplane.workloads import build_model
from mlrollout.errors import InvalidObjectError
from mlrollout.kube.kinds import CLUSTERRELEASEPOLICIES, DEPLOYMENTS, MODELROLLOUTS
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec.status import Phase
from support.cluster import SignedRegistry, create_rollout

pytestmark = pytest.mark.controlplane

PEM_HEADER = "-----BEGIN PUBLIC KEY-----"
# What a refusal may write: the rollout's status, Events and its report record (a
# ConfigMap the rollout owns).
REFUSAL_WRITES = {("modelrollouts", "status"), ("events", ""), ("configmaps", "")}


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


@pytest.fixture
def policies(cp: TestBed) -> Iterator[ReleasePolicies]:
    """The test's ClusterReleasePolicies (cluster-scoped: deleted after)."""
    with release_policies(cp.api) as made:
        yield made


def _label(cp: TestBed, labels: dict[str, str]) -> None:
    label(cp, cp.namespace, labels)


def _drive(cp: TestBed, registry: SignedRegistry) -> StoredRollout:
    """The controller's reconciler as its ServiceAccount (shipped RBAC) until settled."""
    return run_rollout(cp.controller_client(), cp.namespace, registry)


def _assert_nothing_deployed(cp: TestBed, since: int) -> None:
    """On the audit log: after the first ``since`` writes in the namespace, the controller
    wrote only what a refusal may, and nobody wrote a Deployment's spec or a Service."""
    writes = check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
    assert {(w.resource, w.subresource) for w in writes} <= REFUSAL_WRITES
    later = cp.audit.writes(namespace=cp.namespace)[since:]
    assert not [
        w for w in later if w.resource in ("deployments", "services") and w.subresource == ""
    ]
    green = cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)
    assert green["spec"]["replicas"] == 0


CASES = [
    ("no-signature-gate", {}, "spec.gates.signature: not set"),
    ("inline-key", "inline", "spec.gates.signature.publicKeys[0]: inline pem keys are not allowed"),
    (
        "untrusted-key",
        {"signature": {"publicKeys": [{"file": "/etc/keys/mine.pub"}]}},
        "publicKeys[0]",
    ),
]


@pytest.mark.parametrize(("gates", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_governed_rollout_removing_a_requirement_is_refused_and_nothing_deployed(
    gates: dict[str, Any] | str,
    message: str,
    cp: TestBed,
    policies: ReleasePolicies,
    registry: SignedRegistry,
) -> None:
    _label(cp, GOVERNED)
    policies.create(own_policy(cp))
    if gates == "inline":
        gates = {"signature": {"publicKeys": [{"pem": registry.signer.public_pem.decode()}]}}
    build_model(cp.admin, cp.namespace)
    create_rollout(cp.admin, registry.image, namespace=cp.namespace, gates=gates)
    since = len(cp.audit.writes(namespace=cp.namespace))
    final = _drive(cp, registry)
    assert final.status.phase is Phase.REFUSED
    verification = final.status.verification
    assert verification is not None
    assert verification.reason_code == "POLICY"
    assert message in str(verification.message)
    assert f"ClusterReleasePolicy production-{cp.namespace}" in str(verification.message)
    _assert_nothing_deployed(cp, since)


@pytest.mark.parametrize(
    ("labels", "gates"),
    [(GOVERNED, None), ({}, {})],
    ids=["governed-and-compliant", "not-governed-without-signature"],
)
def test_compliant_or_ungoverned_rollout_is_promoted(
    labels: dict[str, str],
    gates: dict[str, Any] | None,
    cp: TestBed,
    policies: ReleasePolicies,
    registry: SignedRegistry,
) -> None:
    _label(cp, labels)
    policies.create(own_policy(cp))
    build_model(cp.admin, cp.namespace)
    create_rollout(
        cp.admin,
        registry.image,
        namespace=cp.namespace,
        **({} if gates is None else {"gates": gates}),
    )
    final = _drive(cp, registry)
    assert final.status.phase is Phase.SUCCEEDED
    assert final.status.verification is not None
    assert final.status.verification.verified
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)


def test_invalid_policy_in_the_cluster_refuses_rather_than_being_skipped(
    cp: TestBed, policies: ReleasePolicies, registry: SignedRegistry
) -> None:
    with pytest.raises(InvalidObjectError):
        cp.admin.create(CLUSTERRELEASEPOLICIES, {**own_policy(cp), "spec": {"podSecurity": "none"}})
    # Accepted by the CRD's schema, refused by mlrollout's model (a key that is not one):
    # mlrollout fails closed rather than skipping the policy.
    broken = own_policy(cp)
    broken["spec"]["signature"]["publicKeys"] = [{"pem": PEM_HEADER}]
    broken["spec"]["signature"]["allowInlineKeys"] = False
    _label(cp, GOVERNED)
    policies.create(broken)
    build_model(cp.admin, cp.namespace)
    create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    since = len(cp.audit.writes(namespace=cp.namespace))
    final = _drive(cp, registry)
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == "POLICY"
    assert f"ClusterReleasePolicy production-{cp.namespace}" in str(
        final.status.verification.message
    )
    _assert_nothing_deployed(cp, since)


SIGNED_MODEL = {
    "uri": "s3://models/fraud-scorer/42",
    "sha256": "c" * 64,
    "signature": {"file": "/models/current/model.sig", "key": "/etc/keys/model.pub"},
}
VERIFIER = {
    "name": "verify-model",
    "image": "registry.test/mlrollout@sha256:" + "d" * 64,
    "args": ["verify", "model", "/models/current"],
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    },
    "resources": {
        "requests": {"cpu": "500m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    },
    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
}


def _sign_model(cp: TestBed) -> None:
    raw = cp.admin.get(MODELROLLOUTS, "fraud-scorer", cp.namespace)
    raw["spec"]["release"]["model"] = SIGNED_MODEL
    cp.admin.replace(MODELROLLOUTS, raw)


def test_signed_model_is_refused_without_a_verifying_init_container(
    cp: TestBed, registry: SignedRegistry
) -> None:
    build_model(cp.admin, cp.namespace)
    create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    _sign_model(cp)
    since = len(cp.audit.writes(namespace=cp.namespace))
    final = _drive(cp, registry)
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == "MODEL_SIGNATURE_UNCHECKED"
    _assert_nothing_deployed(cp, since)


def test_signed_model_settings_reach_the_verifying_init_container(
    cp: TestBed, policies: ReleasePolicies, registry: SignedRegistry
) -> None:
    _label(cp, GOVERNED)
    policies.create(own_policy(cp, requireModelSignature=True))
    build_model(cp.admin, cp.namespace)
    green = cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)
    green["spec"]["template"]["spec"]["initContainers"] = [VERIFIER]
    cp.admin.replace(DEPLOYMENTS, green)
    create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    _sign_model(cp)
    final = _drive(cp, registry)
    assert final.status.phase is Phase.SUCCEEDED
    green = cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)
    [init] = green["spec"]["template"]["spec"]["initContainers"]
    env = {e["name"]: e["value"] for e in init["env"]}
    assert env == {
        "MLROLLOUT_MODEL_SHA256": "c" * 64,
        "MLROLLOUT_MODEL_URI": "s3://models/fraud-scorer/42",
        "MLROLLOUT_MODEL_SIGNATURE": "/models/current/model.sig",
        "MLROLLOUT_MODEL_SIGNATURE_KEY": "/etc/keys/model.pub",
    }
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)


def test_policy_requiring_signed_models_refuses_an_unsigned_one(
    cp: TestBed, policies: ReleasePolicies, registry: SignedRegistry
) -> None:
    _label(cp, GOVERNED)
    policies.create(own_policy(cp, requireModelSignature=True))
    build_model(cp.admin, cp.namespace)
    create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    since = len(cp.audit.writes(namespace=cp.namespace))
    final = _drive(cp, registry)
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == "POLICY"
    assert "spec.release.model.signature: not set" in str(final.status.verification.message)
    _assert_nothing_deployed(cp, since)
