"""The controller loop on the strict test API server: real client, real routers, real gates."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from loop_fakes import ScriptedAnalyst

from kubeapi import KubeApiServer, assert_valid_history
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.kube import KubeClient, PatchType
from mlrollout.kube.environments import assess_readiness
from mlrollout.kube.kinds import CONFIGMAPS, DEPLOYMENTS, MODELROLLOUTS, PODS
from mlrollout.report import decode_config_map
from mlrollout.spec.status import Phase
from support.cluster import BriskClock, SignedRegistry, build_cluster, create_rollout


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def _reconciler(kube: KubeClient, registry: SignedRegistry, script):  # type: ignore[no-untyped-def]
    reconciler = build_reconciler(
        kube,
        namespace="default",
        name="fraud-scorer",
        analyst=ScriptedAnalyst(script),
        clock=BriskClock(),
    )
    reconciler.verifier = KubeReleaseVerifier(kube, registry_factory=registry.client)
    return reconciler


def _canary_share(kube_server: KubeApiServer) -> list[float]:
    """Canary share of ready pods after every Deployment write (replica-weighted routing)."""
    replicas = {"fraud-scorer-blue": 4, "fraud-scorer-green": 0}
    shares = []
    for record in kube_server.history.records(kind="Deployment", actor="client"):
        replicas[record.name] = record.object["spec"]["replicas"]
        total = replicas["fraud-scorer-blue"] + replicas["fraud-scorer-green"]
        shares.append(100 * replicas["fraud-scorer-green"] / total if total else 0)
    return shares


def test_signed_release_is_promoted(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    build_cluster(kube)
    create_rollout(kube, registry.image)
    final = drive(
        _reconciler(kube, registry, lambda step, n: "promote"),
        timeout=timedelta(hours=2),
        until=lambda s: s.status.phase is Phase.SUCCEEDED and s.status.scale_down is None,
    )
    assert final.status.active_env == "green"
    green = kube.get(DEPLOYMENTS, "fraud-scorer-green", "default")
    blue = kube.get(DEPLOYMENTS, "fraud-scorer-blue", "default")
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == registry.image
    assert green["spec"]["replicas"] == 4
    assert blue["spec"]["replicas"] == 0
    assert final.status.verification is not None
    assert final.status.verification.verified
    assert_valid_history(kube_server)


def test_failed_analysis_rolls_back(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    build_cluster(kube)
    create_rollout(kube, registry.image)
    final = drive(
        _reconciler(kube, registry, lambda step, n: "rollback" if step == 3 else "promote"),
        timeout=timedelta(hours=2),
    )
    assert final.status.phase is Phase.ROLLED_BACK
    assert kube.get(DEPLOYMENTS, "fraud-scorer-green", "default")["spec"]["replicas"] == 0
    assert kube.get(DEPLOYMENTS, "fraud-scorer-blue", "default")["spec"]["replicas"] == 4
    shares = _canary_share(kube_server)
    assert max(shares) == 50
    assert shares[-1] == 0
    assert_valid_history(kube_server)


def _wait_settled(kube: KubeClient) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        blue = assess_readiness(kube.get(DEPLOYMENTS, "fraud-scorer-blue", "default"))
        if blue.healthy and len(kube.list(PODS, "default")) == 4:
            time.sleep(0.2)  # let the built-in controller finish its status writes
            return
        time.sleep(0.02)
    raise AssertionError("the cluster did not settle")


@pytest.mark.parametrize("defect", ["unsigned", "untrusted", "gpu-shortage", "privileged"])
def test_refused_release_changes_nothing_in_the_cluster(
    defect: str,
    kube: KubeClient,
    kube_server: KubeApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    registry = SignedRegistry(tmp_path / "secrets", sign=defect != "unsigned")
    if defect == "untrusted":
        (tmp_path / "secrets" / "cosign-pub" / "cosign.pub").write_bytes(
            SignedRegistry(tmp_path / "other").signer.public_pem
        )
    # The test server does not schedule pods onto nodes, so every allocatable GPU counts as
    # free: 2 nodes x 1 GPU cannot hold the 4 surge pods of the candidate.
    build_cluster(kube, gpus_per_node=1 if defect == "gpu-shortage" else 4)
    if defect == "privileged":
        privileged = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "model", "securityContext": {"privileged": True}}]
                    }
                }
            }
        }
        kube.patch(
            DEPLOYMENTS, "fraud-scorer-green", "default", privileged, patch_type=PatchType.STRATEGIC
        )
    raw = create_rollout(kube, registry.image)
    if defect == "gpu-shortage":
        raw["spec"]["strategy"]["canary"]["capacity"] = "surge"
        kube.replace(MODELROLLOUTS, raw)
    _wait_settled(kube)
    kube_server.history.clear()
    final = drive(
        _reconciler(kube, registry, lambda step, n: "promote"), timeout=timedelta(hours=1)
    )
    assert final.status.phase is Phase.REFUSED
    expected = {
        "unsigned": "UNSIGNED",
        "untrusted": "UNTRUSTED_KEY",
        "gpu-shortage": "GPU_CAPACITY",
        "privileged": "POD_SECURITY",
    }[defect]
    assert final.status.verification is not None
    assert final.status.verification.reason_code == expected
    writes = {(r.kind, r.actor) for r in kube_server.history.records()}
    assert writes <= {("ModelRollout", "client"), ("Event", "client"), ("ConfigMap", "client")}
    assert not kube_server.history.records(kind="Pod")
    # The only ConfigMap written is the refusal's report record, naming the reason code.
    [report] = {r.name for r in kube_server.history.records(kind="ConfigMap")}
    assert final.status.report is not None
    assert final.status.report.config_map == report
    record = decode_config_map(kube.get(CONFIGMAPS, report, "default"))
    assert record.decision.outcome.value == "refused"
    assert record.release is not None
    assert record.release.gates is not None
    assert record.release.gates.reason_code == expected
