"""The report ConfigMap is rewritten at the resourceVersion the controller wrote last (no read
per pass), and a write by someone else in between is read and replaced, not lost. On the
real control plane: the controller as its ServiceAccount (shipped RBAC), the other writer as
cluster admin, the controller's reads and writes of ConfigMaps counted on the audit log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controlplane.fixtures import TestBed
from controlplane.workloads import build_model
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import KubeEnvironments, build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.core.decision import Decision
from mlrollout.kube import StoredRollout
from mlrollout.kube.kinds import CONFIGMAPS, Kind
from mlrollout.report import decode_config_map
from mlrollout.spec.status import Phase
from mlrollout.traffic.bound import ServiceRouter
from support.cluster import BriskClock, SignedRegistry, create_rollout

pytestmark = pytest.mark.controlplane


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def test_report_configmap_written_without_a_read_per_pass(
    cp: TestBed, registry: SignedRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_model(cp.admin, cp.namespace)
    steps = [{"setWeight": 25}, {"setWeight": 50}]
    canary = {"traffic": {"router": "replicas"}, "capacity": "constant", "steps": steps}
    create_rollout(cp.admin, registry.image, namespace=cp.namespace, strategy={"canary": canary})
    kube = cp.controller_client()
    verbs: list[str] = []
    real_get, real_replace = kube.get, kube.replace

    def get(kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any]:
        if kind is CONFIGMAPS:
            verbs.append("get")
        return real_get(kind, name, namespace)

    def replace(kind: Kind, obj: dict[str, Any], *, status: bool = False) -> dict[str, Any]:
        if kind is CONFIGMAPS:
            verbs.append("replace")
        return real_replace(kind, obj, status=status)

    monkeypatch.setattr(kube, "get", get)
    monkeypatch.setattr(kube, "replace", replace)
    clock = BriskClock()
    reconciler = build_reconciler(
        kube,
        namespace=cp.namespace,
        name="fraud-scorer",
        clock=clock,
        registry_factory=registry.client,
    )
    # One view of the two Deployments per rollout: the router scales what the effects deploy.
    router, environments = reconciler.edge.router, reconciler.edge.environments
    assert isinstance(router, ServiceRouter)
    assert isinstance(environments, KubeEnvironments)
    assert router.environments is environments.deployments
    assert isinstance(reconciler.verifier, KubeReleaseVerifier)
    assert reconciler.verifier.deployments is environments.deployments  # the gates' too
    touched: list[str] = []

    def touch_once(stored: StoredRollout, decision: Decision) -> None:
        """Someone else writes the ConfigMap once, after the controller rewrote it."""
        reference = stored.status.report
        if touched or reference is None or verbs.count("replace") < 2:
            return
        foreign = cp.admin.get(CONFIGMAPS, reference.config_map, cp.namespace)
        foreign["metadata"].setdefault("labels", {})["touched-by"] = "someone-else"
        cp.admin.replace(CONFIGMAPS, foreign)
        touched.append(reference.config_map)

    final = drive(
        reconciler,
        timeout=timedelta(hours=2),
        until=lambda s: s.status.phase is Phase.SUCCEEDED,
        on_pass=touch_once,
    )
    assert touched, "the ConfigMap was never rewritten twice"
    replaces = verbs.count("replace")
    # One read when the record does not exist yet, one after the foreign write's 409.
    assert verbs.count("get") == 2, verbs
    assert replaces >= 4, verbs
    reference = final.status.report
    assert reference is not None
    stored = cp.admin.get(CONFIGMAPS, reference.config_map, cp.namespace)
    record = decode_config_map(stored)
    assert [p.canary_bp for p in record.traffic][:2] == [2500, 5000]
    assert final.status.report == reference
    # The API server saw the same: two reads of the record by the controller, and its writes.
    seen = cp.audit.requests(namespace=cp.namespace, user=cp.controller_user, resource="configmaps")
    assert [r.verb for r in seen].count("get") == 2, seen
    assert [r.verb for r in seen].count("update") == replaces, seen
