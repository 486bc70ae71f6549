"""A deposed leader writes nothing: the report record and Events are fenced like the status
(the scale benchmark's SIGSTOP failover caught a resumed old leader rewriting report
ConfigMaps after its Lease had expired). On the real control plane: the rollout's
resourceVersion and the audit log show nothing written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlplane.fixtures import TestBed
from mlrollout.controller.effects import Edge, apply_decision
from mlrollout.controller.kubernetes import KubeRolloutState
from mlrollout.core.actions import Emit
from mlrollout.core.decision import Decision
from mlrollout.errors import LeaseLostError
from mlrollout.kube import RolloutStore, StoredRollout
from mlrollout.kube.fencing import LeaseFence
from mlrollout.spec import RolloutStatus
from support.cluster import SignedRegistry, create_rollout

pytestmark = pytest.mark.controlplane


class _LostLease:
    name = "mlrollout-controller"
    held = False


def test_a_deposed_leader_writes_no_event_no_report_and_no_status(
    cp: TestBed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    create_rollout(cp.admin, SignedRegistry(tmp_path / "secrets").image, namespace=cp.namespace)
    kube = cp.controller_client()
    state = KubeRolloutState(RolloutStore(kube), namespace=cp.namespace, name="fraud-scorer")
    stored = state.read()
    written: list[str] = []

    def record(s: StoredRollout, status: RolloutStatus) -> RolloutStatus:
        written.append("report record")
        return status

    edge = Edge(
        state=state,
        environments=None,  # type: ignore[arg-type]  # no workload action in this decision
        router=None,  # type: ignore[arg-type]
        emit=lambda s, event: written.append("event"),
        record=record,
        fence=LeaseFence(_LostLease()),
    )
    for actions in [(Emit(type="Normal", reason="Progressing", message="step 1"),), ()]:
        decision = Decision(status=stored.status, actions=actions, reason="a pass")
        with pytest.raises(LeaseLostError):
            apply_decision(edge, stored, decision, now=datetime.now(UTC))
    assert written == []
    assert (
        state.read().raw["metadata"]["resourceVersion"] == stored.raw["metadata"]["resourceVersion"]
    )
    assert cp.audit.writes(namespace=cp.namespace, user=cp.controller_user) == []
