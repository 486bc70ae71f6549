"""Property test of ``decide()``: random judges, intents, gates and spec changes.

Whatever happens, every applied split gives the canary a weight the spec names (a step's
setWeight, 0 or 100), no traffic reaches the candidate before its release passed the gates,
and an abort ends with the canary at 0%.
"""

from __future__ import annotations

import pytest
from controller_world import World, rollout_from
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrollout.core.actions import Deploy, Shift
from mlrollout.spec.status import Intent, Phase
from support.budgets import examples

DECISIONS = st.sampled_from(["continue", "continue", "promote", "rollback", "pause"])
INTENTS = st.sampled_from(list(Intent))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[World, dict[int, Intent], int | None]:
    example = draw(st.sampled_from(["canary.yaml", "blue-green.yaml", "gateway-canary.yaml"]))
    world = World(raw=rollout_from(example))
    script = draw(st.lists(DECISIONS, min_size=1, max_size=12))
    world.judge = lambda step, n: script[(step * 3 + n) % len(script)]
    world.gates_pass = draw(st.booleans()) or draw(st.booleans())
    world.ready_after = draw(st.integers(min_value=0, max_value=3))
    intents = draw(st.dictionaries(st.integers(min_value=0, max_value=60), INTENTS, max_size=4))
    new_release_at = draw(st.none() | st.integers(min_value=1, max_value=60))
    return world, intents, new_release_at


def _spec_weights(world: World) -> set[float]:
    """The canary weights the spec names: its ``setWeight`` steps, and 0 and 100."""
    steps = (world.raw["spec"]["strategy"].get("canary") or {}).get("steps") or []
    return {0.0, 100.0, *(float(step["setWeight"]) for step in steps if "setWeight" in step)}


def _check_split(world: World) -> None:
    named = _spec_weights(world)
    for split in world.applied:
        assert 0 <= split.canary_percent <= 100
        assert split.stable_env != split.canary_env
        # Every applied weight is one the spec asks for (no step skipped into, no drift).
        assert split.canary_percent in named, (split, sorted(named))


@pytest.mark.slow
@settings(max_examples=examples(150), deadline=None, suppress_health_check=list(HealthCheck))
@given(scenarios())
def test_invariants_hold_under_any_script(
    scenario: tuple[World, dict[int, Intent], int | None],
) -> None:
    world, intents, new_release_at = scenario
    deployed: set[str] = set()
    aborted_at: int | None = None
    for n in range(120):
        if n in intents:
            world.intents[intents[n]] = world.now
            if intents[n] is Intent.ABORT and world.status.phase in {
                Phase.PROGRESSING,
                Phase.PAUSED,
                Phase.DEPLOYING,
                Phase.VERIFYING,
            }:
                aborted_at = n
        if new_release_at == n:
            world.raw["spec"]["release"]["image"] = "registry.example.com/ml/x@sha256:" + "d" * 64
            world.generation += 1
            aborted_at = None
        before = len(world.actions)
        decision = world.step()
        for action in world.actions[before:]:
            if isinstance(action, Deploy):
                assert world.status.verification is not None
                assert world.status.verification.verified
                assert world.status.verification.image == action.image
                deployed.add(action.image)
            if isinstance(action, Shift) and action.split.canary_percent > 0:
                target_env = world.envs[action.split.canary_env]
                assert target_env.image in deployed or target_env.image == ""
                assert decision.status.phase is not Phase.REFUSED
        _check_split(world)
    if aborted_at is not None and world.status.phase is Phase.ABORTED:
        assert world.canary_share(world.status.candidate_env or "green") == 0


@settings(max_examples=examples(60), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    example=st.sampled_from(["canary.yaml", "blue-green.yaml", "gateway-canary.yaml"]),
    script=st.lists(st.sampled_from(["continue", "promote", "pause"]), min_size=1, max_size=8),
    abort_at=st.integers(min_value=3, max_value=40),
)
def test_abort_drives_canary_weight_to_zero(example: str, script: list[str], abort_at: int) -> None:
    world = World(raw=rollout_from(example))
    world.judge = lambda step, n: script[(step + n) % len(script)]
    for _ in range(abort_at):
        world.step()
    phase = world.status.phase
    if phase not in {Phase.VERIFYING, Phase.DEPLOYING, Phase.PROGRESSING, Phase.PAUSED}:
        return
    candidate = world.status.candidate_env
    assert candidate is not None
    world.intents[Intent.ABORT] = world.now
    world.step()  # the abort is decided and its shift applied in the same pass
    assert world.canary_share(candidate) == 0
    for _ in range(3):
        world.step()
    assert world.status.phase is Phase.ABORTED
    assert world.canary_share(candidate) == 0
    assert world.envs[candidate].replicas == 0
