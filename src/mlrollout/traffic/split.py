"""Pure rules about splits every router shares: validation, basis points, destinations.

Part of the ``traffic`` layer, below the routers (``selector``, ``replicas``, ``gateway``,
``fake``). A ``TrafficSplit`` holds the canary's share in basis points of a percent
(10 000 = 100 %, so 0.5 % is 50), the unit every router writes.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlrollout.errors import RouterError
from mlrollout.spec.status import TOTAL_BASIS_POINTS, EnvName, TrafficSplit

__all__ = [
    "TOTAL_BASIS_POINTS",
    "assess_destinations",
    "assess_target",
    "compute_split",
    "compute_weights",
]


def compute_split(*, stable_env: EnvName, canary_env: EnvName, canary_bp: int) -> TrafficSplit:
    """The split giving ``canary_bp`` basis points to the canary (stable gets the rest).

    >>> compute_split(stable_env="blue", canary_env="green", canary_bp=50).canary_percent
    0.5
    """
    if not 0 <= canary_bp <= TOTAL_BASIS_POINTS:
        raise RouterError(f"canary weight {canary_bp / 100:g}% is outside 0..100")
    return TrafficSplit(stable_env=stable_env, canary_env=canary_env, canary_bp=canary_bp)


def compute_weights(split: TrafficSplit) -> dict[EnvName, int]:
    """Each environment's basis points; the two always sum to 10 000.

    >>> compute_weights(TrafficSplit(stable_env="green", canary_env="blue", canary_bp=500))
    {'green': 9500, 'blue': 500}
    """
    return {split.stable_env: split.stable_bp, split.canary_env: split.canary_bp}


def assess_target(target: TrafficSplit) -> None:
    """Refuse a split that does not name two different environments."""
    if target.stable_env == target.canary_env:
        raise RouterError(
            f"a split needs two different environments, got {target.stable_env} twice"
        )


def assess_destinations(target: TrafficSplit, available: Mapping[EnvName, int]) -> None:
    """Refuse to send any weight to an environment with no available replicas."""
    for env, bp in compute_weights(target).items():
        if bp > 0 and available.get(env, 0) <= 0:
            raise RouterError(
                f"refusing to send {bp / 100:g}% of traffic to {env}: it has no available replicas"
            )
