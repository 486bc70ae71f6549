"""Gating webhooks in ``decide()``: nothing moves until each due webhook confirms."""

from __future__ import annotations

from controller_world import World, rollout_from

from mlrollout.core.actions import Shift
from mlrollout.spec.status import Phase

HOOKS = [
    {"type": t, "url": f"https://gate.example.com/{t}"}
    for t in ("confirm-rollout", "pre-rollout", "confirm-traffic-increase", "confirm-promotion")
]


def world(refuse: set[str]) -> World:
    raw = rollout_from("canary.yaml")
    raw["spec"]["webhooks"] = HOOKS
    raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 10}, {"setWeight": 40}]
    w = World(raw=raw)
    w.refuse = set(refuse)
    return w


def test_every_gate_is_asked_in_order_and_the_release_is_promoted() -> None:
    w = world(set())
    assert w.run() is Phase.SUCCEEDED
    distinct = [a for i, a in enumerate(w.asked) if i == 0 or a != w.asked[i - 1]]
    assert distinct == [
        "confirm-rollout",
        "pre-rollout",
        "confirm-traffic-increase",
        "confirm-promotion",
    ]


def test_no_traffic_before_confirm_rollout() -> None:
    w = world({"confirm-rollout"})
    w.run(until=lambda x: x.now > x.now.replace(hour=12, minute=5))
    assert w.status.phase is Phase.DEPLOYING
    assert "confirm-rollout webhook did not confirm" in w.status.message
    assert not [a for a in w.actions if isinstance(a, Shift)]


def test_refused_pre_rollout_gives_up_at_the_progress_deadline() -> None:
    w = world({"pre-rollout"})
    assert w.run() is Phase.FAILED
    assert not [a for a in w.actions if isinstance(a, Shift) and a.split.canary_percent > 0]


def test_weight_holds_until_the_increase_is_confirmed() -> None:
    w = world({"confirm-traffic-increase"})
    w.run(until=lambda x: x.now > x.now.replace(hour=12, minute=5))
    assert w.status.phase is Phase.PROGRESSING
    assert w.canary_share("green") == 0
    w.refuse.clear()
    assert w.run() is Phase.SUCCEEDED


def test_promotion_waits_for_confirm_promotion() -> None:
    w = world({"confirm-promotion"})
    w.run(until=lambda x: x.canary_share("green") == 40 and len(x.decisions) > 30)
    assert w.status.phase is Phase.PROGRESSING
    assert "confirm-promotion webhook did not confirm: HTTP 403: frozen" in w.status.message
    w.refuse.clear()
    assert w.run() is Phase.SUCCEEDED
    assert w.canary_share("green") == 100


def test_promote_full_is_held_by_a_refusing_confirm_promotion() -> None:
    from mlrollout.spec.status import Intent

    w = world({"confirm-promotion"})
    w.run(until=lambda x: x.canary_share("green") == 10)
    w.intents[Intent.PROMOTE_FULL] = w.now
    w.run(until=lambda x: len(x.decisions) > 60)
    assert w.canary_share("green") < 100
    assert w.status.phase is not Phase.SUCCEEDED
    assert "confirm-promotion webhook did not confirm" in w.status.message


def test_blue_green_promote_is_held_by_a_refusing_confirm_promotion() -> None:
    from mlrollout.spec.status import Intent

    raw = rollout_from("blue-green.yaml")
    raw["spec"]["webhooks"] = [
        {"type": "confirm-promotion", "url": "https://gate.example.com/confirm-promotion"}
    ]
    raw["spec"]["strategy"]["blueGreen"]["autoPromotionEnabled"] = False
    w = World(raw=raw)
    w.refuse = {"confirm-promotion"}
    assert w.run() is Phase.PAUSED
    w.intents[Intent.PROMOTE] = w.now
    w.run(until=lambda x: len(x.decisions) > 40)
    assert w.status.phase is not Phase.SUCCEEDED
    assert "confirm-promotion webhook did not confirm" in w.status.message
    w.refuse.clear()
    w.intents[Intent.PROMOTE] = w.now
    assert w.run() is Phase.SUCCEEDED
