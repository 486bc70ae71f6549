"""A rollout whose passes keep failing falls back to its policy's onErrorLimit: rolled back
(the default) or paused once consecutiveErrorLimit passes failed, never before, and never
from a phase without traffic on the candidate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from controller_world import rollout_from
from loop_fakes import FakeClock, FakeEnvironments, FakeVerifier, MemoryState, ScriptedAnalyst

from mlrollout.controller.effects import Edge
from mlrollout.controller.fallback import apply_error_fallback
from mlrollout.controller.loop import Reconciler, drive
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec.status import Phase
from mlrollout.traffic.fake import FakeRouter


def _progressing_at_25(**analysis: object) -> Reconciler:
    raw = rollout_from("gateway-canary.yaml")
    raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 25}, {"analyze": {}}]
    raw["spec"]["analysis"].update(analysis)
    router = FakeRouter(available={"blue": 4, "green": 0})
    state = MemoryState(raw)
    edge = Edge(state=state, **state.identity, environments=FakeEnvironments(router), router=router)
    rec = Reconciler(
        edge=edge,
        verifier=FakeVerifier(),
        clock=FakeClock(),
        analyst=ScriptedAnalyst(lambda step, n: "continue"),
    )

    def at_25(stored: StoredRollout) -> bool:
        applied = stored.status.traffic.applied
        return stored.status.phase is Phase.PROGRESSING and bool(
            applied and applied.canary_percent == 25
        )

    drive(rec, timeout=timedelta(hours=1), until=at_25)
    return rec


def _weight(rec: Reconciler) -> float:
    assert isinstance(rec.edge.router, FakeRouter)
    return rec.edge.router.weights["green"] / 100


def test_below_the_limit_the_rollout_is_held() -> None:
    rec = _progressing_at_25(consecutiveErrorLimit=3)
    assert apply_error_fallback(rec, failures=2, cause="KeyError: 'le'") is None
    assert _weight(rec) == 25


def test_at_the_limit_the_canary_is_rolled_back_in_the_same_pass() -> None:
    rec = _progressing_at_25(consecutiveErrorLimit=3)
    stored = apply_error_fallback(rec, failures=3, cause="KeyError: 'le'")
    assert stored is not None
    assert stored.status.phase is Phase.ROLLING_BACK
    assert "3 passes failed in a row" in stored.status.message
    assert "KeyError: 'le'" in stored.status.message
    assert _weight(rec) == 0


def test_on_error_limit_pause_pauses() -> None:
    rec = _progressing_at_25(consecutiveErrorLimit=2, onErrorLimit="pause")
    stored = apply_error_fallback(rec, failures=2, cause="boom")
    assert stored is not None
    assert stored.status.phase is Phase.PAUSED
    assert _weight(rec) == 25


@pytest.mark.parametrize("failures", [10, 100])
def test_no_fallback_once_rolled_back(failures: int) -> None:
    rec = _progressing_at_25(consecutiveErrorLimit=2)
    assert apply_error_fallback(rec, failures=2, cause="x") is not None
    drive(rec, timeout=timedelta(hours=1))
    assert apply_error_fallback(rec, failures=failures, cause="x") is None
