"""The ``TrafficRouter`` contract: every router, fake and real, passes these tests.

Real routers run on the real control plane (marker ``controlplane``) as the controller's
ServiceAccount; after each test every router write in the API server's audit log is checked
(weights sum to 100, nothing sent to an environment the Deployment controller last reported
with no available replicas) and the API server must have accepted every one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlrollout.errors import KubeError, RouterError
from mlrollout.spec.strategy import CapacityMode
from mlrollout.traffic.port import TrafficRouter

from .harness import (
    Harness,
    assert_history,
    fake_harness,
    gateway_harness,
    replicas_harness,
    selector_harness,
    split,
)
from .world import World

REAL = ["selector", "replicas-surge", "replicas-constant", "gateway"]
ROUTERS = ["fake", *(pytest.param(name, marks=pytest.mark.controlplane) for name in REAL)]


@pytest.fixture(params=ROUTERS)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """Each router in its world; real routers get their audit log checked afterwards."""
    if request.param == "fake":
        made = fake_harness()
        yield made
        assert not made.check_writes()
        return
    world: World = request.getfixturevalue("world")
    if request.param == "selector":
        made = selector_harness(world)
    elif request.param == "gateway":
        made = gateway_harness(world)
    else:
        made = replicas_harness(world, CapacityMode(request.param.split("-")[1]))
    yield made
    assert_history(world, made)


def _settled_observe(harness: Harness, stable: str = "blue") -> float:
    harness.settle()
    return harness.router.observe("blue" if stable == "blue" else "green").canary_percent


def test_a_fresh_router_is_all_stable(harness: Harness) -> None:
    harness.router.ensure()
    harness.router.ensure()  # idempotent
    observed = harness.router.observe("blue")
    assert (observed.stable_env, observed.canary_env, observed.canary_percent) == (
        "blue",
        "green",
        0.0,
    )
    assert harness.router.observe("green").canary_percent == 100.0


def test_steps_forward_then_release(harness: Harness) -> None:
    router: TrafficRouter = harness.router
    router.ensure()
    previous = 0.0
    for weight in harness.weights:
        achieved = router.shift(split(weight))
        assert (achieved.stable_env, achieved.canary_env) == ("blue", "green")
        assert 0.0 <= achieved.canary_percent <= 100.0
        # Observed from the other side, the same cluster gives the stable the rest.
        assert _settled_observe(harness, "green") == round(100.0 - achieved.canary_percent, 2)
        assert achieved.canary_percent >= previous  # rounding never reverses a step
        assert _settled_observe(harness) == achieved.canary_percent
        assert router.shift(split(weight)) == achieved  # idempotent
        previous = achieved.canary_percent
    assert previous == 100.0
    released = router.release("blue")
    if released.canary_percent > 0.0:
        # Only a router that routes by pods may wait for the stable pods before it removes
        # the canary's; it must then finish on the next call.
        assert released.canary_percent < 100.0
        harness.settle()
        released = router.release("blue")
    assert released.canary_percent == 0.0
    assert _settled_observe(harness) == 0.0
    assert not harness.extras()
    assert harness.count_writes() >= 2  # steps and the release: writes for the check to judge


def test_release_removes_extras_mid_canary(harness: Harness) -> None:
    harness.router.ensure()
    harness.router.shift(split(harness.weights[0]))
    harness.settle()
    assert harness.router.release("blue").canary_percent == 0.0
    assert _settled_observe(harness) == 0.0
    assert not harness.extras()


def test_never_routes_to_an_environment_without_available_replicas(harness: Harness) -> None:
    harness.router.ensure()
    harness.make_never_ready("green")
    for weight in harness.weights:
        refusal = ""
        try:
            achieved = harness.router.shift(split(weight))
        except RouterError as error:
            refusal = str(error)
        if refusal:
            assert "green" in refusal
        else:
            # Only a router that routes by ready pods may accept: it must defer the rest.
            assert achieved.canary_percent < 100.0
        assert _settled_observe(harness) == 0.0


def test_a_failed_shift_leaves_the_last_split_in_force(harness: Harness) -> None:
    harness.router.ensure()
    first = harness.router.shift(split(harness.weights[0]))
    assert _settled_observe(harness) == first.canary_percent
    harness.fail_writes()
    other = harness.weights[-1] if harness.weights[-1] != first.canary_percent else 0.0
    with pytest.raises(KubeError):
        harness.router.shift(split(other))
    harness.clear_faults()
    assert _settled_observe(harness) == first.canary_percent


def test_a_split_needs_two_environments(harness: Harness) -> None:
    harness.router.ensure()
    same = split(0).model_copy(update={"canary_env": "blue"})
    with pytest.raises(RouterError, match="two different environments"):
        harness.router.shift(same)
    assert harness.router.observe("blue").canary_percent == 0.0
