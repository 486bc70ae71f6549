"""Restarts of kube-apiserver and etcd in the middle of a rollout: the controller's kube
layer rides them out, and the audit log still satisfies the invariants."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mlrollout.controller.loop import drive
from mlrollout.core.decision import Decision
from mlrollout.kube import StoredRollout
from mlrollout.kube.kinds import DEPLOYMENTS
from mlrollout.spec.status import Phase
from support.cluster import SignedRegistry, create_rollout

from .fixtures import TestBed
from .rollouts import check_audit, reconciler, settled, wait_until
from .workloads import build_model

pytestmark = pytest.mark.controlplane


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_rollout_survives_a_restart_mid_shift(
    cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, component: str
) -> None:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    registry = SignedRegistry(tmp_path / "secrets")
    build_model(cp.admin, cp.namespace)
    create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    plane = cp.session.plane
    restarted: list[int] = []

    def on_pass(stored: StoredRollout, decision: Decision) -> None:
        if not restarted and stored.status.phase is Phase.PROGRESSING:
            restarted.append(stored.status.current_step or 0)
            plane.restart(component)
            if component == "kube-apiserver":
                # Until its RBAC caches are filled, a starting kube-apiserver answers 403,
                # which the kube layer rightly does not retry; `drive` would stop on it
                # (reported). etcd's restart is not awaited: the next requests meet it down.
                plane.wait_ready(timeout=60)
                # The reconciler's clock runs ahead of real time: ten virtual minutes pass in
                # under a real second. Let the Deployment controller and kwok catch up with
                # the restarted API server (in real time) before the progress deadline counts.
                _wait_caught_up(cp)

    try:
        final = drive(
            reconciler(cp.controller_client(), cp.namespace, registry),
            timeout=timedelta(hours=2),
            until=settled,
            on_pass=on_pass,
        )
    finally:
        plane.wait_ready(timeout=60)
    assert restarted
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    assert cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)["spec"]["replicas"] == 4
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)


def _wait_caught_up(cp: TestBed) -> None:
    """Until both environments' Deployments report every replica ready for their generation."""

    def ready() -> bool:
        states = [
            cp.admin.get(DEPLOYMENTS, f"fraud-scorer-{env}", cp.namespace)
            for env in ("blue", "green")
        ]
        return all(
            (d.get("status") or {}).get("observedGeneration") == d["metadata"]["generation"]
            and (d.get("status") or {}).get("readyReplicas", 0) >= d["spec"]["replicas"]
            for d in states
        )

    wait_until(ready, what="Deployments ready after the restart")
