"""ClusterReleasePolicy on the strict test API server: a rollout in a governed namespace that
removes a requirement is Refused with reason POLICY naming the policy, and nothing is
deployed; outside the selected namespaces, and when it complies, the rollout proceeds."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from loop_fakes import ScriptedAnalyst

from kubeapi import KubeApiServer, assert_valid_history
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.errors import InvalidObjectError
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import assess_readiness
from mlrollout.kube.kinds import CLUSTERRELEASEPOLICIES, DEPLOYMENTS, MODELROLLOUTS, PODS
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec.status import Phase
from support.cluster import BriskClock, SignedRegistry, build_cluster, create_rollout

PEM_HEADER = "-----BEGIN PUBLIC KEY-----"


def _policy(**signature: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlrollout.io/v1alpha1",
        "kind": "ClusterReleasePolicy",
        "metadata": {"name": "production"},
        "spec": {
            "namespaceSelector": {"matchLabels": {"mlrollout.io/governed": "true"}},
            "signature": {"publicKeys": [{"secret": "cosign-pub"}], **signature},
        },
    }


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def _settle(kube: KubeClient) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        blue = assess_readiness(kube.get(DEPLOYMENTS, "fraud-scorer-blue", "default"))
        if blue.healthy and len(kube.list(PODS, "default")) == 4:
            time.sleep(0.2)  # let the built-in controller finish its status writes
            return
        time.sleep(0.02)
    raise AssertionError("the cluster did not settle")


def _drive(kube: KubeClient, registry: SignedRegistry) -> StoredRollout:
    reconciler = build_reconciler(
        kube,
        namespace="default",
        name="fraud-scorer",
        analyst=ScriptedAnalyst(lambda step, n: "promote"),
        clock=BriskClock(),
    )
    reconciler.verifier = KubeReleaseVerifier(kube, registry_factory=registry.client)
    return drive(
        reconciler,
        timeout=timedelta(hours=2),
        until=lambda s: s.status.phase in (Phase.REFUSED, Phase.SUCCEEDED),
    )


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
    kube: KubeClient,
    kube_server: KubeApiServer,
    registry: SignedRegistry,
) -> None:
    kube_server.store.namespace_labels["default"] = {"mlrollout.io/governed": "true"}
    kube.create(CLUSTERRELEASEPOLICIES, _policy())
    if gates == "inline":
        gates = {"signature": {"publicKeys": [{"pem": registry.signer.public_pem.decode()}]}}
    build_cluster(kube)
    create_rollout(kube, registry.image, gates=gates)
    _settle(kube)
    kube_server.history.clear()
    final = _drive(kube, registry)
    assert final.status.phase is Phase.REFUSED
    verification = final.status.verification
    assert verification is not None
    assert verification.reason_code == "POLICY"
    assert message in str(verification.message)
    assert "ClusterReleasePolicy production" in str(verification.message)
    writes = {(r.kind, r.actor) for r in kube_server.history.records()}
    # The refusal's report record (a ConfigMap owned by the rollout) is the only other write.
    assert writes <= {("ModelRollout", "client"), ("Event", "client"), ("ConfigMap", "client")}
    assert not kube_server.history.records(kind="Pod")
    assert_valid_history(kube_server)


@pytest.mark.parametrize(
    ("labels", "gates"),
    [
        ({"mlrollout.io/governed": "true"}, None),
        ({}, {}),
    ],
    ids=["governed-and-compliant", "not-governed-without-signature"],
)
def test_compliant_or_ungoverned_rollout_is_promoted(
    labels: dict[str, str],
    gates: dict[str, Any] | None,
    kube: KubeClient,
    kube_server: KubeApiServer,
    registry: SignedRegistry,
) -> None:
    kube_server.store.namespace_labels["default"] = labels
    kube.create(CLUSTERRELEASEPOLICIES, _policy())
    build_cluster(kube)
    create_rollout(kube, registry.image, **({} if gates is None else {"gates": gates}))
    final = _drive(kube, registry)
    assert final.status.phase is Phase.SUCCEEDED
    assert final.status.verification is not None
    assert final.status.verification.verified


def test_invalid_policy_in_the_cluster_refuses_rather_than_being_skipped(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    with pytest.raises(InvalidObjectError):
        kube.create(CLUSTERRELEASEPOLICIES, {**_policy(), "spec": {"podSecurity": "none"}})
    # Stored behind the schema's back (an older CRD version, say): mlrollout fails closed.
    broken = _policy(allowInlineKeys=False)
    broken["spec"]["signature"]["publicKeys"] = [{"pem": PEM_HEADER}]
    kube_server.store.namespace_labels["default"] = {"mlrollout.io/governed": "true"}
    kube.create(CLUSTERRELEASEPOLICIES, broken)
    build_cluster(kube)
    create_rollout(kube, registry.image)
    final = _drive(kube, registry)
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == "POLICY"
    assert "ClusterReleasePolicy production" in str(final.status.verification.message)


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


def _add_verifier(kube: KubeClient) -> None:
    green = kube.get(DEPLOYMENTS, "fraud-scorer-green", "default")
    green["spec"]["template"]["spec"]["initContainers"] = [VERIFIER]
    kube.replace(DEPLOYMENTS, green)


def test_signed_model_is_refused_without_a_verifying_init_container(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    build_cluster(kube)
    raw = create_rollout(kube, registry.image)
    raw["spec"]["release"]["model"] = SIGNED_MODEL
    kube.replace(MODELROLLOUTS, raw)
    _settle(kube)
    kube_server.history.clear()
    final = _drive(kube, registry)
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == "MODEL_SIGNATURE_UNCHECKED"
    writes = {(r.kind, r.actor) for r in kube_server.history.records()}
    # The refusal's report record (a ConfigMap owned by the rollout) is the only other write.
    assert writes <= {("ModelRollout", "client"), ("Event", "client"), ("ConfigMap", "client")}


def test_signed_model_settings_reach_the_verifying_init_container(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    kube_server.store.namespace_labels["default"] = {"mlrollout.io/governed": "true"}
    kube.create(
        CLUSTERRELEASEPOLICIES,
        {**_policy(), "spec": {**_policy()["spec"], "requireModelSignature": True}},
    )
    build_cluster(kube)
    _add_verifier(kube)
    raw = create_rollout(kube, registry.image)
    raw["spec"]["release"]["model"] = SIGNED_MODEL
    kube.replace(MODELROLLOUTS, raw)
    final = _drive(kube, registry)
    assert final.status.phase is Phase.SUCCEEDED
    green = kube.get(DEPLOYMENTS, "fraud-scorer-green", "default")
    [init] = green["spec"]["template"]["spec"]["initContainers"]
    env = {e["name"]: e["value"] for e in init["env"]}
    assert env == {
        "MLROLLOUT_MODEL_SHA256": "c" * 64,
        "MLROLLOUT_MODEL_URI": "s3://models/fraud-scorer/42",
        "MLROLLOUT_MODEL_SIGNATURE": "/models/current/model.sig",
        "MLROLLOUT_MODEL_SIGNATURE_KEY": "/etc/keys/model.pub",
    }
    assert_valid_history(kube_server)


def test_policy_requiring_signed_models_refuses_an_unsigned_one(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    kube_server.store.namespace_labels["default"] = {"mlrollout.io/governed": "true"}
    kube.create(
        CLUSTERRELEASEPOLICIES,
        {**_policy(), "spec": {**_policy()["spec"], "requireModelSignature": True}},
    )
    build_cluster(kube)
    create_rollout(kube, registry.image)
    final = _drive(kube, registry)
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == "POLICY"
    assert "spec.release.model.signature: not set" in str(final.status.verification.message)
