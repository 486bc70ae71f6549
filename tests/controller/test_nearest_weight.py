"""The replicas router with few pods: the nearest weight whole pods give counts as reached.

With 4 stable pods and capacity ``constant``, ``setWeight: 5`` can only be 25 % (3 + 1
pods). The controller records that as ``status.traffic.nearest`` and moves on instead of
waiting for 5 % until its deadline (issue 17); the decision rule itself is the pure
``reached``. On the real control plane, as the controller's ServiceAccount with the shipped
RBAC; the audit log is checked for the invariants (nothing before the gates, weights).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from loop_fakes import ScriptedAnalyst

from controlplane.fixtures import TestBed
from controlplane.rollouts import check_audit
from controlplane.workloads import build_model
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.spec.status import Phase
from support.cluster import BriskClock, SignedRegistry, create_rollout

pytestmark = pytest.mark.controlplane


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


@pytest.mark.slow
def test_an_unreachable_weight_is_reached_at_the_nearest_and_the_rollout_succeeds(
    cp: TestBed, registry: SignedRegistry
) -> None:
    build_model(cp.admin, cp.namespace)
    raw = create_rollout(cp.admin, registry.image, namespace=cp.namespace)
    raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 5}, {"analyze": {}}]
    cp.admin.replace(MODELROLLOUTS, raw)
    kube = cp.controller_client()
    reconciler = build_reconciler(
        kube,
        namespace=cp.namespace,
        name="fraud-scorer",
        analyst=ScriptedAnalyst(lambda step, n: "promote"),
        clock=BriskClock(),
        registry_factory=registry.client,
    )
    seen: list[tuple[float | None, float | None]] = []

    def record(stored, decision) -> None:  # type: ignore[no-untyped-def]
        traffic = stored.status.traffic
        if traffic.target is not None and traffic.target.canary_percent == 5:
            nearest = traffic.nearest.canary_percent if traffic.nearest else None
            seen.append((traffic.target.canary_percent, nearest))

    final = drive(reconciler, timeout=timedelta(hours=2), on_pass=record)
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    assert (5, 25) in seen  # shown in status while the step ran
    assert len(seen) < 20  # no loop repeating the same shift
    # The replicas router moved every old pod to the new environment: no warm window is
    # promised (it used to promise 30 s with the old environment already at 0 pods).
    assert final.status.scale_down is None
    assert "no warm environment to roll back to" in (final.status.message or "")
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
