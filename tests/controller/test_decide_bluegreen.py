"""``decide()`` for blue-green rollouts: preview, pre/post-promotion analysis, switch back."""

from __future__ import annotations

from datetime import timedelta

from controller_world import World, rollout_from

from mlrollout.core.actions import ScaleEnv, SetPreview, Shift
from mlrollout.spec.status import Intent, Phase


def blue_green(judge: dict[int, str] | None = None, **bg: object) -> World:
    raw = rollout_from("blue-green.yaml")
    raw["spec"]["strategy"]["blueGreen"].update(bg)
    outcomes = judge or {}
    world = World(raw=raw)
    world.judge = lambda step, n: outcomes.get(step, "promote")
    return world


def test_preview_then_switch_then_post_analysis_then_success() -> None:
    world = blue_green()
    assert world.run() is Phase.SUCCEEDED
    assert any(isinstance(a, SetPreview) and a.env == "green" for a in world.actions)
    shifts = [a for a in world.actions if isinstance(a, Shift)]
    assert [s.split.canary_percent for s in shifts] == [100]
    assert world.status.active_env == "green"
    assert world.looks == {0: 1, 1: 1}
    assert world.envs["green"].replicas == 4  # full size before the switch


def test_pre_promotion_failure_never_moves_production_traffic() -> None:
    world = blue_green({0: "rollback"})
    assert world.run() is Phase.ROLLED_BACK
    assert world.canary_share("blue") == 100
    assert all(a.split.canary_percent == 0 for a in world.actions if isinstance(a, Shift))
    assert world.envs["green"].replicas == 0


def test_post_promotion_failure_switches_back_instantly() -> None:
    world = blue_green({1: "rollback"})
    assert world.run() is Phase.ROLLED_BACK
    assert [s.canary_percent for s in world.applied] == [100, 0]
    assert world.canary_share("blue") == 100
    assert world.status.active_env == "blue"


def test_manual_promotion_waits_for_the_user() -> None:
    world = blue_green(autoPromotionEnabled=False)
    assert world.run() is Phase.PAUSED
    assert world.canary_share("blue") == 100
    world.intents[Intent.PROMOTE] = world.now
    assert world.run() is Phase.SUCCEEDED


def test_old_environment_stays_warm_for_the_scale_down_delay() -> None:
    world = blue_green()
    world.run()
    assert world.status.scale_down is not None
    due = world.status.scale_down.at
    promoted = next(d for d in world.decisions if d.status.phase is Phase.SUCCEEDED)
    assert promoted.status.phase_started_at is not None
    assert due == promoted.status.phase_started_at + timedelta(minutes=10)
    world.run(until=lambda w: w.status.scale_down is None)
    [(when, _)] = [(t, a) for t, a in world.log if a == ScaleEnv("blue", 0)]
    assert due is not None
    assert when >= due
    assert world.envs["blue"].replicas == 0
