"""Gates and analysis on the real control plane, judged by its audit log: a refused release
writes nothing but the rollout's status and Events; a failed analysis sends every replica
back to stable, never giving the canary more than its step's share."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrollout.kube import PatchType
from mlrollout.kube.kinds import DEPLOYMENTS, MODELROLLOUTS
from mlrollout.spec.status import Phase
from support.cluster import SignedRegistry, create_rollout

from .audit import Request
from .fixtures import TestBed
from .rollouts import check_audit, run_rollout
from .workloads import build_model

pytestmark = pytest.mark.controlplane

_REASONS = {
    "unsigned": "UNSIGNED",
    "untrusted": "UNTRUSTED_KEY",
    "gpu-shortage": "GPU_CAPACITY",
    "privileged": "POD_SECURITY",
}


@pytest.mark.parametrize("defect", sorted(_REASONS))
def test_refused_release_writes_nothing_but_its_status(
    cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, defect: str
) -> None:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    registry = SignedRegistry(tmp_path / "secrets", sign=defect != "unsigned")
    if defect == "untrusted":
        (tmp_path / "secrets" / "cosign-pub" / "cosign.pub").write_bytes(
            SignedRegistry(tmp_path / "other").signer.public_pem
        )
    # Blue's 4 pods are placed by the scheduler; 2 x 3 GPUs leave 2 free for 4 surge pods.
    build_model(cp.admin, cp.namespace, gpus_per_node=3 if defect == "gpu-shortage" else 4)
    if defect == "privileged":
        context = {"privileged": True, "allowPrivilegeEscalation": True}
        privileged = {"securityContext": context, "name": "model"}
        patch = {"spec": {"template": {"spec": {"containers": [privileged]}}}}
        cp.admin.patch(
            DEPLOYMENTS, "fraud-scorer-green", cp.namespace, patch, patch_type=PatchType.STRATEGIC
        )
    raw = create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    if defect == "gpu-shortage":
        raw["spec"]["strategy"]["canary"]["capacity"] = "surge"
        cp.admin.replace(MODELROLLOUTS, raw)
    final = run_rollout(cp.controller_client(), cp.namespace, registry)
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == _REASONS[defect]
    writes = check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
    # Only the rollout's status, Events and its report record (a ConfigMap it owns).
    assert {(w.resource, w.subresource) for w in writes} <= {
        ("modelrollouts", "status"),
        ("events", ""),
        ("configmaps", ""),
    }


def _canary_shares(writes: list[Request]) -> list[float]:
    """The canary's share of replicas after each Deployment write of the controller."""
    replicas = {"fraud-scorer-blue": 4, "fraud-scorer-green": 0}
    shares = []
    for w in writes:
        if w.resource == "deployments" and w.stored is not None:
            replicas[w.name] = int(w.stored["spec"]["replicas"])
            total = sum(replicas.values())
            shares.append(100 * replicas["fraud-scorer-green"] / total if total else 0.0)
    return shares


def test_failed_analysis_rolls_back_within_the_step_share(
    cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    registry = SignedRegistry(tmp_path / "secrets")
    build_model(cp.admin, cp.namespace)
    create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    final = run_rollout(
        cp.controller_client(),
        cp.namespace,
        registry,
        script=lambda step: "rollback" if step == 3 else "promote",
    )
    assert final.status.phase is Phase.ROLLED_BACK
    assert cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)["spec"]["replicas"] == 0
    assert cp.admin.get(DEPLOYMENTS, "fraud-scorer-blue", cp.namespace)["spec"]["replicas"] == 4
    shares = _canary_shares(check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user))
    assert max(shares) == 50
    assert shares[-1] == 0
