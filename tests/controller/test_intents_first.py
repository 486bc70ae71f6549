"""Intents first: abort, pause and rollback are acted on even when observing the judge, the
gates or the gating webhooks raises; fencing stops a deposed writer before any write; a retry
verifies the gates again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from controller_world import rollout_from
from loop_fakes import FakeClock, FakeEnvironments, FakeVerifier, MemoryState, ScriptedAnalyst

from mlrollout.controller.effects import Edge
from mlrollout.controller.loop import Reconciler, drive
from mlrollout.core import AnalysisLook, VerificationOutcome
from mlrollout.errors import LeaseLostError, ProviderUnavailableError, RegistryError
from mlrollout.kube.fencing import LeaseFence
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec.policy import WebhookType
from mlrollout.spec.status import INTENT_PREFIX, Phase
from mlrollout.traffic.fake import FakeRouter

STEPS = [{"setWeight": 25}, {"analyze": {}}, {"setWeight": 50}, {"analyze": {}}]


class RaisingAnalyst:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def look(self, stored: StoredRollout, *, now_s: float) -> AnalysisLook | None:
        raise self.error


class RaisingVerifier:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def verify(self, stored: StoredRollout) -> VerificationOutcome:
        raise self.error


class RaisingConfirmer:
    def confirm(
        self, stored: StoredRollout, types: Sequence[WebhookType]
    ) -> dict[str, tuple[bool, str]]:
        raise UnicodeEncodeError("ascii", "é", 0, 1, "header value not ASCII")


def make(*, webhook: bool = False) -> Reconciler:
    raw = rollout_from("gateway-canary.yaml")
    raw["spec"]["strategy"]["canary"]["steps"] = STEPS
    if webhook:
        raw["spec"]["webhooks"] = [
            {"type": "confirm-traffic-increase", "url": "https://gate.example/confirm"}
        ]
    state = MemoryState(raw)
    router = FakeRouter(available={"blue": 4, "green": 0})
    edge = Edge(state=state, **state.identity, environments=FakeEnvironments(router), router=router)
    return Reconciler(edge=edge, verifier=FakeVerifier(), clock=FakeClock(), analyst=None)


def _state(rec: Reconciler) -> MemoryState:
    assert isinstance(rec.edge.state, MemoryState)
    return rec.edge.state


def _router(rec: Reconciler) -> FakeRouter:
    assert isinstance(rec.edge.router, FakeRouter)
    return rec.edge.router


def _to_progressing_at(rec: Reconciler, weight: float) -> None:
    def there(stored: StoredRollout) -> bool:
        applied = stored.status.traffic.applied
        return (
            stored.status.phase is Phase.PROGRESSING
            and applied is not None
            and applied.canary_percent == weight
        )

    drive(rec, timeout=timedelta(hours=1), until=there)


def _request(rec: Reconciler, intent: str) -> None:
    state = _state(rec)
    annotations = state.raw["metadata"].setdefault("annotations", {})
    annotations[INTENT_PREFIX + intent] = "2026-11-26T12:30:00.000000Z"


def _canary_weight(rec: Reconciler) -> float:
    return _router(rec).weights["green"] / 100


@pytest.mark.parametrize(
    "error",
    [ProviderUnavailableError("prometheus down"), ValueError("could not convert 'le'")],
    ids=["provider-error", "non-tree-exception"],
)
def test_abort_with_a_failing_provider_takes_the_canary_to_zero_in_one_pass(
    error: Exception,
) -> None:
    rec = make()
    rec.analyst = ScriptedAnalyst(lambda step, n: "continue")
    _to_progressing_at(rec, 25)
    assert _canary_weight(rec) == 25
    rec.analyst = RaisingAnalyst(error)
    _request(rec, "abort")
    stored, _ = rec.reconcile()
    assert _canary_weight(rec) == 0
    assert stored.status.phase in (Phase.ROLLING_BACK, Phase.ABORTED)


def test_abort_with_a_failing_gating_webhook_takes_the_canary_to_zero_in_one_pass() -> None:
    rec = make(webhook=True)
    rec.analyst = ScriptedAnalyst(lambda step, n: "promote")
    rec.confirmer = _AllowingConfirmer()
    _to_progressing_at(rec, 25)
    rec.confirmer = RaisingConfirmer()
    _request(rec, "abort")
    rec.reconcile()
    assert _canary_weight(rec) == 0


def test_abort_with_a_failing_gate_is_acted_on_while_verifying() -> None:
    rec = make()
    rec.verifier = RaisingVerifier(RegistryError("registry answered garbage"))
    rec.reconcile()  # Pending -> Verifying
    assert _state(rec).read().status.phase is Phase.VERIFYING
    _request(rec, "abort")
    stored, _ = rec.reconcile()
    assert stored.status.phase in (Phase.ROLLING_BACK, Phase.ABORTED)
    assert _canary_weight(rec) == 0


def test_without_an_intent_an_observation_failure_propagates() -> None:
    rec = make()
    rec.analyst = ScriptedAnalyst(lambda step, n: "continue")
    _to_progressing_at(rec, 25)
    rec.analyst = RaisingAnalyst(OverflowError("counter near 1e308"))
    with pytest.raises(OverflowError):
        rec.reconcile()
    assert _canary_weight(rec) == 25  # held


def test_pause_with_a_failing_provider_pauses() -> None:
    rec = make()
    rec.analyst = ScriptedAnalyst(lambda step, n: "continue")
    _to_progressing_at(rec, 25)
    rec.analyst = RaisingAnalyst(ProviderUnavailableError("down"))
    _request(rec, "pause")
    stored, _ = rec.reconcile()
    assert stored.status.phase is Phase.PAUSED
    assert _canary_weight(rec) == 25


class _AllowingConfirmer:
    def confirm(
        self, stored: StoredRollout, types: Sequence[WebhookType]
    ) -> dict[str, tuple[bool, str]]:
        return {t.value: (True, "ok") for t in types}


class _Lease:
    name = "mlrollout-controller"

    def __init__(self) -> None:
        self.held = True


def test_a_deposed_writer_stops_before_the_router_write() -> None:
    rec = make()
    rec.analyst = ScriptedAnalyst(lambda step, n: "continue")
    lease = _Lease()
    rec.edge.fence = LeaseFence(lease)
    _to_progressing_at(rec, 25)
    writes_before = (len(_router(rec).writes), len(_state(rec).writes))
    lease.held = False
    _request(rec, "abort")
    with pytest.raises(LeaseLostError, match="no longer held"):
        rec.reconcile()
    assert (len(_router(rec).writes), len(_state(rec).writes)) == writes_before
    assert _canary_weight(rec) == 25


def test_a_deposed_writer_writes_no_report_record() -> None:
    rec = make()
    rec.analyst = ScriptedAnalyst(lambda step, n: "continue")
    lease = _Lease()
    rec.edge.fence = LeaseFence(lease)
    _to_progressing_at(rec, 25)
    records: list[str] = []
    rec.edge.record = lambda stored, status: records.append(status.phase.value) or status
    lease.held = False  # the next pass only records its analysis look: no router write
    with pytest.raises(LeaseLostError, match="the report record"):
        rec.reconcile()
    assert records == []


def test_retry_verifies_the_gates_again() -> None:
    rec = make()
    verifier = FakeVerifier(passes=False)
    rec.verifier = verifier
    final = drive(rec, timeout=timedelta(hours=1))
    assert final.status.phase is Phase.REFUSED
    assert len(verifier.calls) == 1
    verifier.passes = True
    rec.analyst = ScriptedAnalyst(lambda step, n: "promote")
    _request(rec, "retry")
    final = drive(rec, timeout=timedelta(hours=1))
    assert final.status.phase is Phase.SUCCEEDED
    assert len(verifier.calls) == 2
