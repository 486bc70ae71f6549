"""Replica maths of the ``replicas`` router: a canary weight as whole pods of two Deployments.

Pure; used by ``replicas`` (to plan a shift) and by the controller (to tell the GPU
capacity preflight how many canary pods a step plan must place). Weights are basis points
of a percent (``split.TOTAL_BASIS_POINTS`` = 100 %). When the Service selects both
environments, each ready pod takes an equal share, so the canary's weight is
``canary / (stable + canary)`` of the ready pods.

``N`` is the stable environment's full replica count. Two capacity modes:

- ``surge``: the stable keeps its N pods while the canary grows to N (50 %); beyond 50 % the
  canary stays at N and the stable shrinks. Peak use: N extra canary pods.
- ``constant``: the GPUs in use stay at the stable's ``N × stable_gpus``; the stable shrinks
  as the canary grows. Pods can hold different numbers of GPUs (``stable_gpus``,
  ``canary_gpus``; 1 for pods without GPUs), so the pod counts need not sum to N.

Rounding (documented, tested): among the plans the mode allows, the one whose weight is
closest to the target; a tie goes to the smaller canary weight. A target strictly between
0 and 100 % gives each side at least one pod (otherwise the step would analyse nothing, or
send everything to the canary); 0 % is ``(N, 0)``; 100 % has no stable pod.

Worked examples (N = 4, one GPU per pod)::

    target   surge (stable, canary) -> achieved     constant (stable, canary) -> achieved
     5 %     (4, 1) -> 20 %                         (3, 1) -> 25 %
    25 %     (4, 1) -> 20 %                         (3, 1) -> 25 %
    50 %     (4, 4) -> 50 %                         (2, 2) -> 50 %
    60 %     (3, 4) -> 57.14 %                      (2, 2) -> 50 %
    62.5 %   (2, 4) -> 66.67 %                      (2, 2) -> 50 %  (tie with 75 %: smaller)
    100 %    (0, 4) -> 100 %                        (0, 4) -> 100 %
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from mlrollout.errors import RouterError
from mlrollout.spec.strategy import CapacityMode
from mlrollout.traffic.split import TOTAL_BASIS_POINTS

__all__ = [
    "ReplicaPlan",
    "compute_canary_bp",
    "compute_pods_to_place",
    "compute_replica_plan",
]


def compute_canary_bp(stable: int, canary: int) -> int:
    """The canary's weight in basis points when ``stable`` and ``canary`` pods serve.

    Rounded half to even to the nearest basis point; both zero is an error (no endpoints).

    >>> compute_canary_bp(2, 1), compute_canary_bp(0, 3), compute_canary_bp(4, 0)
    (3333, 10000, 0)
    """
    if stable < 0 or canary < 0:
        raise ValueError(f"pod counts must not be negative, got {stable} and {canary}")
    if stable + canary == 0:
        raise RouterError("neither environment has a pod to serve traffic")
    return round(TOTAL_BASIS_POINTS * canary / (stable + canary))


@dataclass(frozen=True)
class ReplicaPlan:
    """Replica counts for both environments, and the canary weight they give."""

    stable: int
    canary: int

    @property
    def canary_bp(self) -> int:
        """The canary's weight in basis points once every planned pod is ready."""
        return compute_canary_bp(self.stable, self.canary)


def _closest(plans: Iterable[ReplicaPlan], target_bp: int) -> ReplicaPlan:
    # Sorting key: distance first, then the smaller canary weight (the safer side).
    return min(plans, key=lambda p: (abs(p.canary_bp - target_bp), p.canary_bp))


def _surge_plans(replicas: int, target_bp: int) -> list[ReplicaPlan]:
    if 2 * target_bp <= TOTAL_BASIS_POINTS:
        return [ReplicaPlan(replicas, c) for c in range(1, replicas + 1)]
    return [ReplicaPlan(s, replicas) for s in range(1, replicas + 1)]


def _constant_plans(replicas: int, stable_gpus: int, canary_gpus: int) -> list[ReplicaPlan]:
    budget = replicas * stable_gpus
    plans = []
    for canary in range(1, budget // canary_gpus + 1):
        stable = (budget - canary * canary_gpus) // stable_gpus
        if stable >= 1:
            plans.append(ReplicaPlan(stable, canary))
    return plans


def compute_replica_plan(
    *,
    target_bp: int,
    replicas: int,
    mode: CapacityMode,
    stable_gpus: int = 1,
    canary_gpus: int = 1,
) -> ReplicaPlan:
    """The pods each environment runs to give the canary ``target_bp`` (see module doc).

    >>> compute_replica_plan(target_bp=500, replicas=4, mode=CapacityMode.CONSTANT)
    ReplicaPlan(stable=3, canary=1)
    >>> compute_replica_plan(target_bp=5000, replicas=4, mode=CapacityMode.CONSTANT,
    ...                      stable_gpus=1, canary_gpus=2)
    ReplicaPlan(stable=2, canary=1)
    """
    if replicas < 1 or stable_gpus < 1 or canary_gpus < 1:
        raise RouterError(
            f"replica maths needs at least one stable pod and GPU count, got N={replicas}, "
            f"{stable_gpus} and {canary_gpus} GPU(s) per pod"
        )
    if not 0 <= target_bp <= TOTAL_BASIS_POINTS:
        raise RouterError(f"canary weight {target_bp / 100:g}% is outside 0..100")
    constant = mode is CapacityMode.CONSTANT
    if target_bp == 0:
        return ReplicaPlan(replicas, 0)
    if target_bp == TOTAL_BASIS_POINTS:
        full = (replicas * stable_gpus) // canary_gpus if constant else replicas
        if full < 1:
            raise RouterError(
                f"a canary pod needs {canary_gpus} GPUs; the budget is {replicas * stable_gpus}"
            )
        return ReplicaPlan(0, full)
    if constant:
        plans = _constant_plans(replicas, stable_gpus, canary_gpus)
    else:
        plans = _surge_plans(replicas, target_bp)
    if not plans:
        raise RouterError(
            f"capacity mode {mode} with {replicas} stable pod(s) cannot give both environments "
            f"a pod for a {target_bp / 100:g}% canary; use more replicas or surge"
        )
    return _closest(plans, target_bp)


def compute_pods_to_place(plans: Sequence[ReplicaPlan], mode: CapacityMode) -> int:
    """Canary pods the cluster must have room for, for a sequence of step plans.

    Canary pods are scaled up before stable pods are scaled down. In ``surge`` the stable
    frees nothing on the way up, so all canary pods need room: the largest canary count. In
    ``constant`` the stable frees its pods after each step, so the largest increment.

    >>> steps = [ReplicaPlan(4, 0), ReplicaPlan(3, 1), ReplicaPlan(2, 2), ReplicaPlan(0, 4)]
    >>> compute_pods_to_place(steps, CapacityMode.SURGE)
    4
    >>> compute_pods_to_place(steps, CapacityMode.CONSTANT)
    2
    """
    if mode is CapacityMode.SURGE:
        return max((p.canary for p in plans), default=0)
    counts = [0, *(p.canary for p in plans)]
    return max((b - a for a, b in pairwise(counts)), default=0)
