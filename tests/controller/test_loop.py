"""The reconcile loop with fake ports: intent-first writes, conflicts, crashes at every point."""

from __future__ import annotations

from datetime import timedelta

import pytest
from controller_world import rollout_from
from loop_fakes import (
    Crash,
    FakeClock,
    FakeEnvironments,
    FakeVerifier,
    MemoryState,
    ScriptedAnalyst,
)

from mlrollout.controller.effects import CRASH_POINTS, Edge, apply_decision
from mlrollout.controller.loop import Reconciler, drive
from mlrollout.core.decision import Decision
from mlrollout.spec.status import Phase
from mlrollout.traffic.fake import FakeRouter
from mlrollout.traffic.split import TOTAL_BASIS_POINTS, compute_weights

STEPS = [{"setWeight": 5}, {"analyze": {}}, {"setWeight": 25}, {"analyze": {}}, {"setWeight": 50}]


def make(script=lambda step, n: "promote", crash=None):  # type: ignore[no-untyped-def]
    raw = rollout_from("gateway-canary.yaml")
    raw["spec"]["strategy"]["canary"]["steps"] = STEPS
    state = MemoryState(raw)
    router = FakeRouter(available={"blue": 4, "green": 0})
    envs = FakeEnvironments(router)
    clock = FakeClock()
    analyst = ScriptedAnalyst(script)
    edge = Edge(
        state=state,
        **state.identity,
        environments=envs,
        router=router,
        crash=crash or (lambda point: None),
    )
    return Reconciler(edge=edge, verifier=FakeVerifier(), clock=clock, analyst=analyst)


def canary_weights(router: FakeRouter) -> list[float]:
    """The canary's share of every router write, in percent."""
    return [weights["green"] / 100 for weights, _ in router.writes]


def test_good_release_runs_to_success() -> None:
    rec = make()
    final = drive(rec, timeout=timedelta(hours=1))
    assert final.status.phase is Phase.SUCCEEDED
    router = rec.edge.router
    assert isinstance(router, FakeRouter)
    assert canary_weights(router) == [5, 25, 50, 100]
    assert final.status.traffic.applied is not None


def test_target_is_persisted_before_the_router_write() -> None:
    rec = make()
    state = rec.edge.state
    assert isinstance(state, MemoryState)
    seen: list[tuple[float | None, float]] = []
    router = rec.edge.router
    assert isinstance(router, FakeRouter)
    original = router.shift

    def spy(target):  # type: ignore[no-untyped-def]
        stored_target = state.read().status.traffic.target
        seen.append(
            (stored_target.canary_percent if stored_target else None, target.canary_percent)
        )
        return original(target)

    router.shift = spy  # type: ignore[method-assign]
    drive(rec, timeout=timedelta(hours=1))
    assert seen
    assert all(stored == wanted for stored, wanted in seen)


def test_a_conflicting_status_write_is_recomputed() -> None:
    rec = make()
    state = rec.edge.state
    assert isinstance(state, MemoryState)
    state.conflicts = 3
    final = drive(rec, timeout=timedelta(hours=1))
    assert final.status.phase is Phase.SUCCEEDED


def test_failed_analysis_rolls_back_in_the_same_pass() -> None:
    rec = make(script=lambda step, n: "rollback" if step == 3 else "promote")
    final = drive(rec, timeout=timedelta(hours=1))
    assert final.status.phase is Phase.ROLLED_BACK
    router = rec.edge.router
    assert isinstance(router, FakeRouter)
    assert canary_weights(router) == [5, 25, 0]


def _script(outcome: str):  # type: ignore[no-untyped-def]
    return lambda step, n: "rollback" if outcome == "rollback" and step == 3 else "promote"


def _hits(outcome: str) -> dict[str, int]:
    """How often each crash point is passed in an uninterrupted run."""
    counts: dict[str, int] = {}

    def count(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    drive(make(_script(outcome), crash=count), timeout=timedelta(hours=1))
    return counts


def _crash_and_resume(point: str, hit: int, outcome: str) -> None:
    seen: list[int] = []

    def crash(name: str) -> None:
        if name == point:
            seen.append(1)
            if len(seen) == hit:
                raise Crash(name)

    first = make(_script(outcome), crash=crash)
    with pytest.raises(Crash):
        drive(first, timeout=timedelta(hours=1))
    # A new controller process: same cluster (state, environments, router), fresh memory.
    second = Reconciler(
        edge=Edge(
            state=first.edge.state,
            namespace=first.edge.namespace,
            name=first.edge.name,
            environments=first.edge.environments,
            router=first.edge.router,
        ),
        verifier=FakeVerifier(),
        clock=first.clock,
        analyst=ScriptedAnalyst(_script(outcome)),
    )
    final = drive(second, timeout=timedelta(hours=1))
    expected = Phase.SUCCEEDED if outcome == "promote" else Phase.ROLLED_BACK
    assert final.status.phase is expected
    router = first.edge.router
    assert isinstance(router, FakeRouter)
    # Every router write (basis points) is a target the controller persisted first, all of
    # the traffic between the two environments.
    state = first.edge.state
    assert isinstance(state, MemoryState)
    targets = [s.traffic.target for s in state.writes if s.traffic.target is not None]
    persisted = [compute_weights(t) for t in targets]
    for written, _ in router.writes:
        assert sum(written.values()) == TOTAL_BASIS_POINTS, written
        assert written in persisted, (written, persisted)
    weights = canary_weights(router)
    distinct = [w for i, w in enumerate(weights) if i == 0 or w != weights[i - 1]]
    assert distinct == ([5, 25, 50, 100] if outcome == "promote" else [5, 25, 0])


@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("outcome", ["promote", "rollback"])
def test_crash_at_first_pass_of_each_point_resumes(point: str, outcome: str) -> None:
    _crash_and_resume(point, 1, outcome)


@pytest.mark.slow
@pytest.mark.parametrize("outcome", ["promote", "rollback"])
def test_crash_at_every_pass_of_every_point_resumes(outcome: str) -> None:
    hits = _hits(outcome)
    assert set(hits) == set(CRASH_POINTS)
    for point, count in hits.items():
        for hit in range(1, count + 1):
            _crash_and_resume(point, hit, outcome)


def test_a_failing_router_holds_the_rollout_with_a_condition_then_continues() -> None:
    from mlrollout.errors import ApiUnavailableError

    rec = make()
    router = rec.edge.router
    assert isinstance(router, FakeRouter)
    router.fail_next(ApiUnavailableError("API server unreachable"), times=2)
    state = rec.edge.state
    assert isinstance(state, MemoryState)
    final = drive(rec, timeout=timedelta(hours=1))
    assert final.status.phase is Phase.SUCCEEDED
    held = [s for s in state.writes if s.message.startswith("holding: API server unreachable")]
    assert held
    [condition] = [c for c in held[0].conditions if c.type == "Progressing"]
    assert (condition.status, condition.reason) == ("False", "ActionFailed")
    assert canary_weights(router) == [5, 25, 50, 100]


def test_a_settled_rollout_is_not_written_again() -> None:
    rec = make()
    state = rec.edge.state
    assert isinstance(state, MemoryState)
    final = drive(rec, timeout=timedelta(hours=1))
    assert final.status.phase is Phase.SUCCEEDED
    writes, version = len(state.writes), state.version
    for _ in range(3):  # passes that change nothing: no status write, same resourceVersion
        again, decision = rec.reconcile()
        assert again.status == final.status
        assert decision.status == final.status
    assert (len(state.writes), state.version) == (writes, version)


def test_a_decision_that_changes_the_status_is_written_and_one_that_does_not_is_not() -> None:
    rec = make()
    state = rec.edge.state
    assert isinstance(state, MemoryState)
    stored = state.read()
    now = rec.clock.now()
    same = apply_decision(rec.edge, stored, Decision(status=stored.status), now=now)
    assert (same, state.writes) == (stored, [])
    changed = stored.status.model_copy(update={"message": "a new message"})
    written = apply_decision(rec.edge, stored, Decision(status=changed), now=now)
    assert state.writes == [changed]
    assert written.status.message == "a new message"
    assert written.resource_version != stored.resource_version
