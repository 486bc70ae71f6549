"""GPU capacity for real: the real scheduler places the candidate's pods on kwok GPU nodes;
the capacity gate refuses a release the free GPUs cannot hold before anything is deployed;
a candidate the scheduler cannot place stays Pending until the progress deadline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlrollout.kube import StoredRollout
from mlrollout.kube.kinds import DEPLOYMENTS, MODELROLLOUTS, NODES, PODS
from mlrollout.spec.status import Phase, RollbackCause
from support.cluster import SignedRegistry, create_rollout

from .fixtures import TestBed
from .rollouts import check_audit, run_rollout, settled
from .workloads import POOL_LABEL, build_model

pytestmark = pytest.mark.controlplane


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def _surge_rollout(cp: TestBed, image: str, **gates: Any) -> None:
    raw = create_rollout(cp.admin, image, namespace=cp.namespace)
    canary = raw["spec"]["strategy"]["canary"]
    canary["capacity"] = "surge"
    # With surge, stable keeps its 4 replicas: 1 of 5 is 20 %, 4 of 8 is 50 %. (A 25 % step
    # cannot be expressed in whole replicas and the rollout waits at 20 % for ever: reported.)
    canary["steps"] = [{"setWeight": 20}, {"analyze": {}}, {"setWeight": 50}, {"analyze": {}}]
    raw["spec"]["gates"].update(gates)
    cp.admin.replace(MODELROLLOUTS, raw)


def _pods(cp: TestBed, env: str) -> list[dict[str, Any]]:
    return cp.admin.list(PODS, cp.namespace, label_selector=f"env={env}")


def test_scheduler_places_the_candidate_on_free_gpus(cp: TestBed, registry: SignedRegistry) -> None:
    # 2 nodes x 4 GPUs, blue holds 4: the 4 surge pods fit only on the GPUs blue leaves free.
    build_model(cp.admin, cp.namespace, nodes=2, gpus_per_node=4)
    _surge_rollout(cp, registry.image)
    final = run_rollout(cp.controller_client(), cp.namespace, registry, hours=0.5)
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    nodes = {n["metadata"]["name"]: n for n in cp.admin.list(NODES)}
    green = _pods(cp, "green")
    assert len(green) == 4
    for pod in green:
        assert nodes[pod["spec"]["nodeName"]]["metadata"]["labels"][POOL_LABEL] == cp.namespace
        assert pod["status"]["phase"] == "Running"


def test_release_needing_more_gpus_than_free_is_refused_before_deploying(
    cp: TestBed, registry: SignedRegistry
) -> None:
    # 2 nodes x 3 GPUs, blue holds 4 (placed by the scheduler): 2 free, the surge needs 4.
    build_model(cp.admin, cp.namespace, nodes=2, gpus_per_node=3)
    _surge_rollout(cp, registry.image)
    final = run_rollout(cp.controller_client(), cp.namespace, registry, hours=0.5)
    assert final.status.phase is Phase.REFUSED
    assert final.status.verification is not None
    assert final.status.verification.reason_code == "GPU_CAPACITY"
    writes = check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
    # Only the rollout's status, Events and its report record (a ConfigMap it owns).
    assert {w.resource for w in writes} <= {"modelrollouts", "events", "configmaps"}
    assert _pods(cp, "green") == []
    green = cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)
    assert green["metadata"]["generation"] == 1


def test_candidate_the_scheduler_cannot_place_hits_the_progress_deadline(
    cp: TestBed, registry: SignedRegistry
) -> None:
    # GPUs are free (the gate passes), but blue's pods use every CPU of the nodes: only the
    # real scheduler knows the candidate cannot run, and its pods stay Pending.
    build_model(cp.admin, cp.namespace, nodes=2, gpus_per_node=4, cpu_per_node=2)
    _surge_rollout(cp, registry.image)
    unschedulable: set[str] = set()

    def until(stored: StoredRollout) -> bool:
        for pod in _pods(cp, "green"):
            assert "nodeName" not in pod["spec"], "a candidate pod was placed without CPU"
            for condition in pod["status"].get("conditions") or []:
                if condition["type"] == "PodScheduled" and condition["status"] == "False":
                    unschedulable.add(condition.get("message", ""))
        return settled(stored)

    final = run_rollout(cp.controller_client(), cp.namespace, registry, until=until, hours=0.5)
    assert final.status.phase in (Phase.ROLLED_BACK, Phase.FAILED), final.status.message
    assert final.status.rollback_cause is RollbackCause.DEADLINE
    assert "progress deadline" in final.status.message
    assert any("Insufficient cpu" in m for m in unschedulable), unschedulable
    assert cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)["spec"]["replicas"] == 0
    assert cp.admin.get(DEPLOYMENTS, "fraud-scorer-blue", cp.namespace)["spec"]["replicas"] == 4
