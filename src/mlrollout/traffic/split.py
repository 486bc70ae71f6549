"""Pure rules about splits every router shares: validation, basis points, destinations.

Part of the ``traffic`` layer, below the routers (``selector``, ``replicas``, ``gateway``,
``fake``). Weights in a ``TrafficSplit`` are percentages with at most two decimals; routers
that write integers use basis points of a percent (10 000 = 100 %), so 0.5 % is 50.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlrollout.errors import RouterError
from mlrollout.spec.status import EnvName, TrafficSplit

__all__ = [
    "TOTAL_BASIS_POINTS",
    "assess_destinations",
    "assess_target",
    "compute_basis_points",
    "compute_split",
    "compute_weights",
]

TOTAL_BASIS_POINTS = 10_000


def compute_basis_points(percent: float) -> int:
    """A percentage as basis points of a percent, rounded to the nearest integer.

    >>> compute_basis_points(0.5), compute_basis_points(99.5), compute_basis_points(33.333)
    (50, 9950, 3333)
    """
    return round(percent * 100)


def compute_split(*, stable_env: EnvName, canary_env: EnvName, canary_bp: int) -> TrafficSplit:
    """The split giving ``canary_bp`` basis points to the canary (stable gets the rest).

    >>> compute_split(stable_env="blue", canary_env="green", canary_bp=50).canary_weight
    0.5
    """
    if not 0 <= canary_bp <= TOTAL_BASIS_POINTS:
        raise RouterError(f"canary weight {canary_bp / 100:g}% is outside 0..100")
    return TrafficSplit(stable_env=stable_env, canary_env=canary_env, canary_weight=canary_bp / 100)


def compute_weights(split: TrafficSplit) -> dict[EnvName, float]:
    """Each environment's percentage; the two always sum to 100.

    >>> compute_weights(TrafficSplit(stable_env="green", canary_env="blue", canary_weight=5))
    {'green': 95.0, 'blue': 5.0}
    """
    canary = compute_basis_points(split.canary_weight)
    return {
        split.stable_env: (TOTAL_BASIS_POINTS - canary) / 100,
        split.canary_env: canary / 100,
    }


def assess_target(target: TrafficSplit) -> None:
    """Refuse a split that does not name two different environments."""
    if target.stable_env == target.canary_env:
        raise RouterError(
            f"a split needs two different environments, got {target.stable_env} twice"
        )


def assess_destinations(target: TrafficSplit, available: Mapping[EnvName, int]) -> None:
    """Refuse to send any weight to an environment with no available replicas."""
    for env, weight in compute_weights(target).items():
        if weight > 0 and available.get(env, 0) <= 0:
            raise RouterError(
                f"refusing to send {weight:g}% of traffic to {env}: it has no available replicas"
            )
