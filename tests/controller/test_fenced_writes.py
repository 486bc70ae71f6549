"""A deposed leader writes nothing: the report record and Events are fenced like the status
(the scale benchmark's SIGSTOP failover caught a resumed old leader rewriting report
ConfigMaps after its Lease had expired)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlrollout.controller.bound_state import BoundRolloutState
from mlrollout.controller.effects import Edge, apply_decision
from mlrollout.core.actions import Emit
from mlrollout.core.decision import Decision
from mlrollout.errors import LeaseLostError
from mlrollout.kube import KubeClient, RolloutStore, StoredRollout
from mlrollout.kube.fencing import LeaseFence
from mlrollout.spec import RolloutStatus
from support.cluster import SignedRegistry, build_cluster, create_rollout


class _LostLease:
    name = "mlrollout-controller"
    held = False


def test_a_deposed_leader_writes_no_event_no_report_and_no_status(
    kube: KubeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    build_cluster(kube)
    create_rollout(kube, SignedRegistry(tmp_path / "secrets").image)
    state = BoundRolloutState(RolloutStore(kube), namespace="default", name="fraud-scorer")
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
