"""Replica maths: worked examples as a table, and properties over many plans (hypothesis)."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlrollout.traffic.httproute as httproute_module
import mlrollout.traffic.replica_math as replica_math_module
import mlrollout.traffic.selector as selector_module
import mlrollout.traffic.split as split_module
from mlrollout.errors import RouterError
from mlrollout.spec.strategy import CapacityMode
from mlrollout.traffic.replica_math import (
    ReplicaPlan,
    compute_canary_bp,
    compute_pods_to_place,
    compute_replica_plan,
)

SURGE, CONSTANT = CapacityMode.SURGE, CapacityMode.CONSTANT


@pytest.mark.parametrize(
    "module", [replica_math_module, split_module, selector_module, httproute_module]
)
def test_docstring_examples_hold(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "mode", "n", "gpus", "expected", "achieved_bp"),
    [
        (500, SURGE, 4, (1, 1), (4, 1), 2000),
        (2500, SURGE, 4, (1, 1), (4, 1), 2000),
        (5000, SURGE, 4, (1, 1), (4, 4), 5000),
        (6000, SURGE, 4, (1, 1), (3, 4), 5714),
        (10000, SURGE, 4, (1, 1), (0, 4), 10000),
        (0, SURGE, 4, (1, 1), (4, 0), 0),
        (500, CONSTANT, 4, (1, 1), (3, 1), 2500),
        (6250, CONSTANT, 4, (1, 1), (2, 2), 5000),
        (1000, CONSTANT, 10, (1, 1), (9, 1), 1000),
        (5000, CONSTANT, 4, (1, 2), (2, 1), 3333),
        (10000, CONSTANT, 4, (1, 2), (0, 2), 10000),
        (5000, CONSTANT, 2, (4, 1), (1, 1), 5000),
        (100, SURGE, 1, (1, 1), (1, 1), 5000),
    ],
    ids=[
        "surge-5",
        "surge-25",
        "surge-50",
        "surge-60-stable-shrinks",
        "surge-100",
        "surge-0",
        "constant-5",
        "constant-tie-goes-to-smaller",
        "constant-10-of-10",
        "constant-bigger-canary-pods",
        "constant-100-bigger-canary-pods",
        "constant-smaller-canary-pods",
        "surge-one-pod-each",
    ],
)
def test_worked_examples(
    target: int,
    mode: CapacityMode,
    n: int,
    gpus: tuple[int, int],
    expected: tuple[int, int],
    achieved_bp: int,
) -> None:
    plan = compute_replica_plan(
        target_bp=target, replicas=n, mode=mode, stable_gpus=gpus[0], canary_gpus=gpus[1]
    )
    assert (plan.stable, plan.canary) == expected
    assert plan.canary_bp == achieved_bp


def test_constant_mode_with_one_pod_cannot_split() -> None:
    with pytest.raises(RouterError, match="cannot give both environments a pod"):
        compute_replica_plan(target_bp=500, replicas=1, mode=CONSTANT)


def test_no_pods_at_all_is_no_split() -> None:
    with pytest.raises(RouterError, match="neither environment"):
        compute_canary_bp(0, 0)


def test_pods_to_place_per_mode() -> None:
    plans = [compute_replica_plan(target_bp=t, replicas=8, mode=CONSTANT) for t in (0, 1000, 5000)]
    assert [p.canary for p in plans] == [0, 1, 4]
    assert compute_pods_to_place(plans, CONSTANT) == 3
    assert compute_pods_to_place(plans, SURGE) == 4
    assert compute_pods_to_place([], SURGE) == 0


modes = st.sampled_from([SURGE, CONSTANT])


@given(
    target=st.integers(0, 10_000),
    n=st.integers(2, 40),
    mode=modes,
    stable_gpus=st.integers(1, 4),
    canary_gpus=st.integers(1, 4),
)
def test_plans_are_valid_and_closest(
    target: int, n: int, mode: CapacityMode, stable_gpus: int, canary_gpus: int
) -> None:
    if mode is CONSTANT and n * stable_gpus < stable_gpus + canary_gpus and target > 0:
        return  # no room for a pod on each side: covered by the refusal test
    plan = compute_replica_plan(
        target_bp=target, replicas=n, mode=mode, stable_gpus=stable_gpus, canary_gpus=canary_gpus
    )
    bp = plan.canary_bp
    assert 0 <= bp <= 10_000  # weights in 0..100; the stable gets exactly the rest
    assert (bp == 0) == (target == 0)
    assert (bp == 10_000) == (target == 10_000)
    if mode is CONSTANT:
        assert plan.stable * stable_gpus + plan.canary * canary_gpus <= n * stable_gpus
    else:
        assert plan.stable <= n
        assert plan.canary <= n
    if 0 < target < 10_000:
        # No allowed alternative is strictly closer (exhaustive over the mode's plans).
        for other in _alternatives(n, mode, stable_gpus, canary_gpus):
            assert abs(bp - target) <= abs(other.canary_bp - target)


def _alternatives(n: int, mode: CapacityMode, sg: int, cg: int) -> list[ReplicaPlan]:
    if mode is SURGE:
        return [ReplicaPlan(n, c) for c in range(1, n + 1)] + [
            ReplicaPlan(s, n) for s in range(1, n + 1)
        ]
    budget = n * sg
    return [
        ReplicaPlan((budget - c * cg) // sg, c)
        for c in range(1, budget // cg + 1)
        if (budget - c * cg) // sg >= 1
    ]


@given(n=st.integers(2, 30), mode=modes, a=st.integers(1, 9_999), b=st.integers(1, 9_999))
def test_a_larger_target_never_gets_a_smaller_weight(
    n: int, mode: CapacityMode, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    first = compute_replica_plan(target_bp=low, replicas=n, mode=mode)
    second = compute_replica_plan(target_bp=high, replicas=n, mode=mode)
    assert first.canary_bp <= second.canary_bp
