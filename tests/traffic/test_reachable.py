"""Which weights the replicas router can give: the warnings ``lint`` and ``plan`` print."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrollout.spec import load_paths, load_rollout
from mlrollout.spec.strategy import CapacityMode
from mlrollout.traffic.reachable import compute_min_replicas, compute_unreachable_weights

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("weight", "mode", "above", "expected"),
    [
        (25.0, CapacityMode.CONSTANT, 0, 4),
        (5.0, CapacityMode.CONSTANT, 4, 20),
        (50.0, CapacityMode.CONSTANT, 3, 4),
        (20.0, CapacityMode.SURGE, 0, 4),
        (0.01, CapacityMode.SURGE, 0, None),
    ],
    ids=["25-constant", "5-needs-20", "50-next-above-3", "20-surge", "beyond-1000-pods"],
)
def test_next_pod_count_giving_a_weight(
    weight: float, mode: CapacityMode, above: int, expected: int | None
) -> None:
    assert compute_min_replicas(weight, mode=mode, above=above) == expected


def _example(name: str):  # type: ignore[no-untyped-def]
    library = load_paths(sorted((ROOT / "analyses").glob("*.yaml"))).templates
    return load_rollout(ROOT / "examples" / name, templates=library)


@pytest.mark.parametrize("name", ["canary.yaml", "blue-green.yaml", "gateway-canary.yaml"])
def test_shipped_examples_reach_every_weight_with_four_pods(name: str) -> None:
    assert compute_unreachable_weights(_example(name), replicas=4) == []


def test_three_pods_cannot_give_the_canary_examples_weights() -> None:
    found = compute_unreachable_weights(_example("canary.yaml"), replicas=3)
    assert [(u.step, u.wanted, u.achieved, u.min_replicas) for u in found] == [
        (0, 25.0, 33.33, 4),
        (2, 50.0, 33.33, 4),
        (4, 75.0, 66.67, 4),
    ]
    assert (
        found[0]
        .describe()
        .startswith(
            "spec.strategy.canary.steps[0].setWeight: 25% cannot be reached by the replicas "
            "router with 3 stable pods: the router applies the nearest weight, 33.33%"
        )
    )
