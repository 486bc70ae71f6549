"""``decide()`` for canary rollouts, driven pass by pass through the in-memory world."""

from __future__ import annotations

import json

import pytest
from controller_world import NEW, World, rollout_from

from mlrollout.core.actions import Deploy, ScaleEnv, SetPreview, Shift
from mlrollout.spec.status import Intent, Phase, TrafficSplit

STEPS = [
    {"setWeight": 5},
    {"analyze": {"maxDuration": "30m"}},
    {"setWeight": 25},
    {"analyze": {"maxDuration": "20m"}},
    {"setWeight": 50},
]


def canary(**changes: object) -> World:
    raw = rollout_from("canary.yaml")
    raw["spec"]["strategy"]["canary"]["steps"] = STEPS
    raw["spec"].update(changes)
    return World(raw=raw)


def weights(world: World) -> list[float]:
    return [
        s.canary_percent if s.canary_env == "green" else s.stable_percent for s in world.applied
    ]


def test_good_release_is_promoted_step_by_step() -> None:
    world = canary()
    assert world.run() is Phase.SUCCEEDED
    assert weights(world) == [5, 25, 50, 100]
    assert world.status.active_env == "green"
    assert world.canary_share("green") == 100
    assert world.envs["green"].image == NEW
    assert world.status.scale_down is not None
    assert world.status.scale_down.env == "blue"
    # The old environment scales down only after its warm period.
    world.run(until=lambda w: w.status.scale_down is None)
    assert world.envs["blue"].replicas == 0
    assert world.envs["green"].replicas > 0


def test_failed_analysis_rolls_back_at_once() -> None:
    world = canary()
    world.judge = lambda step, n: ("continue" if n == 1 else "rollback") if step == 3 else "promote"
    assert world.run() is Phase.ROLLED_BACK
    assert weights(world) == [5, 25, 0]
    rollback = next(d for d in world.decisions if d.status.phase is Phase.ROLLING_BACK)
    assert any(isinstance(a, Shift) and a.split.canary_percent == 0 for a in rollback.actions)
    assert world.canary_share("green") == 0
    assert world.envs["green"].replicas == 0
    assert world.status.active_env == "blue"


def test_refused_release_changes_nothing() -> None:
    world = canary()
    world.gates_pass = False
    assert world.run() is Phase.REFUSED
    assert world.status.verification is not None
    assert world.status.verification.reason_code == "UNSIGNED"
    assert not [a for a in world.actions if isinstance(a, Deploy | ScaleEnv | Shift | SetPreview)]
    assert world.envs["green"].image == ""


def test_nothing_shifts_before_verification() -> None:
    world = canary()
    world.run()
    verified_at = next(i for i, a in enumerate(world.actions) if isinstance(a, Deploy))
    assert not [a for a in world.actions[:verified_at] if isinstance(a, ScaleEnv | Shift)]
    assert world.status.verification is not None
    assert world.status.verification.verified


def test_inconclusive_pauses_and_resume_continues() -> None:
    world = canary()
    world.judge = lambda step, n: "pause" if step == 1 and n == 1 else "promote"
    assert world.run() is Phase.PAUSED
    assert world.canary_share("green") == 5
    world.intents[Intent.RESUME] = world.now
    assert world.run() is Phase.SUCCEEDED


def test_abort_drives_canary_weight_to_zero() -> None:
    world = canary()
    world.judge = lambda step, n: "continue"
    world.run(until=lambda w: w.canary_share("green") == 5 and w.looks.get(1, 0) >= 2)
    world.intents[Intent.ABORT] = world.now
    assert world.run() is Phase.ABORTED
    assert world.canary_share("green") == 0
    assert world.envs["green"].replicas == 0


def test_retry_after_abort_starts_from_the_first_step() -> None:
    world = canary()
    world.judge = lambda step, n: "continue"
    world.run(until=lambda w: w.looks.get(1, 0) >= 1)
    world.intents[Intent.ABORT] = world.now
    world.run()
    world.judge = lambda step, n: "promote"
    world.looks.clear()
    world.intents[Intent.RETRY] = world.now
    world.applied.clear()
    assert world.run() is Phase.SUCCEEDED
    assert weights(world) == [5, 25, 50, 100]


def test_promote_full_skips_the_remaining_steps() -> None:
    world = canary()
    world.judge = lambda step, n: "continue"
    world.run(until=lambda w: w.looks.get(1, 0) >= 1)
    world.intents[Intent.PROMOTE_FULL] = world.now
    assert world.run() is Phase.SUCCEEDED
    assert weights(world) == [5, 100]


def test_pause_and_promote_past_an_indefinite_pause() -> None:
    world = canary()
    world.raw["spec"]["strategy"]["canary"]["steps"] = [
        {"setWeight": 10},
        {"pause": {}},
        {"setWeight": 40},
    ]
    assert world.run() is Phase.PAUSED
    assert world.canary_share("green") == 10
    world.intents[Intent.PROMOTE] = world.now
    assert world.run() is Phase.SUCCEEDED
    assert weights(world) == [10, 40, 100]


def test_timed_pause_waits_its_duration() -> None:
    world = canary()
    world.raw["spec"]["strategy"]["canary"]["steps"] = [
        {"setWeight": 10},
        {"pause": {"duration": "10m"}},
    ]
    world.run(until=lambda w: w.status.current_step == 1)
    started = world.now
    world.run()
    promoted = next(d for d in world.decisions if d.status.phase is Phase.PROMOTING)
    assert promoted.status.phase_started_at is not None
    assert world.now - started >= __import__("datetime").timedelta(minutes=10)


def test_new_digest_mid_rollout_returns_to_stable_and_starts_over() -> None:
    world = canary()
    world.judge = lambda step, n: "continue"
    world.run(until=lambda w: w.canary_share("green") == 5 and w.looks.get(1, 0) >= 1)
    newer = "registry.example.com/ml/fraud-scorer@sha256:" + "c" * 64
    world.raw["spec"]["release"]["image"] = newer
    world.generation = 2
    world.applied.clear()
    world.looks.clear()
    world.run(until=lambda w: w.status.phase is Phase.VERIFYING)
    assert weights(world) == [0]
    assert world.envs["green"].replicas == 0
    world.judge = lambda step, n: "promote"
    assert world.run() is Phase.SUCCEEDED
    assert world.envs["green"].image == newer
    assert world.status.verification is not None
    assert world.status.verification.image == newer


def test_candidate_never_ready_fails_at_the_progress_deadline() -> None:
    world = canary(progressDeadline="2m")
    world.ready_after = 10_000
    assert world.run() is Phase.FAILED
    assert not [a for a in world.actions if isinstance(a, Shift) and a.split.canary_percent > 0]
    assert world.envs["green"].replicas == 0


def test_rollback_after_promotion_returns_to_the_warm_environment() -> None:
    world = canary()
    assert world.run() is Phase.SUCCEEDED
    world.intents[Intent.ROLLBACK] = world.now
    assert world.run() is Phase.ROLLED_BACK
    assert world.status.active_env == "blue"
    assert world.canary_share("blue") == 100


def test_release_already_live_is_adopted_without_changes() -> None:
    raw = rollout_from("canary.yaml")
    world = World(raw=raw)
    release = world.rollout.spec.release
    world.envs["blue"].image, world.envs["blue"].model = release.image, release.model.sha256
    assert world.run() is Phase.SUCCEEDED
    assert world.actions == []


def test_each_target_is_stored_before_the_router_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    # The world applies decisions through the production effects: intent first.
    world = canary()
    stored: list[TrafficSplit | None] = []
    shift = world.router.shift

    def recording(target: TrafficSplit) -> TrafficSplit:
        stored.append(world.state.read().status.traffic.target)
        return shift(target)

    monkeypatch.setattr(world.router, "shift", recording)
    assert world.run() is Phase.SUCCEEDED
    assert stored == world.applied
    assert [s.canary_percent for s in stored if s is not None] == [5, 25, 50, 100]
    audited = [json.loads(line)["action"] for line in world.edge.log]
    assert audited == [type(action).__name__ for action in world.actions]
