"""Which canary weights the ``replicas`` router can express with a given number of pods.

Pure; used by ``lint`` and ``plan`` to warn, per ``setWeight`` step, when the weight a file
asks for is not one that whole pods can give (4 stable pods cannot give 5 %: one canary pod
next to three is 25 %). The router then applies the nearest achievable weight
(``replica_math``) and the controller counts the step as reached there (recorded as
``status.traffic.nearest`` and shown by ``status``), so the file says something other than
what happens: choose weights the pods can give. Other routers split traffic by weight and
reach every step exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlrollout.errors import RouterError
from mlrollout.spec import ModelRollout
from mlrollout.spec.strategy import CapacityMode, RouterKind
from mlrollout.traffic.replica_math import compute_canary_bp, compute_replica_plan
from mlrollout.traffic.split import TOTAL_BASIS_POINTS

__all__ = ["UnreachableWeight", "compute_min_replicas", "compute_unreachable_weights"]

_SEARCH_LIMIT = 1000


@dataclass(frozen=True)
class UnreachableWeight:
    """A ``setWeight`` step whose weight whole pods cannot give, and what they give instead."""

    step: int
    wanted: float
    achieved: float | None  # None: no split of these pods gives both environments a pod
    replicas: int
    min_replicas: int | None  # the next stable pod count (above ``replicas``) giving it exactly

    @property
    def path(self) -> str:
        """The field, as lint names fields."""
        return f"spec.strategy.canary.steps[{self.step}].setWeight"

    def describe(self) -> str:
        """One line for people."""
        needs = f" or run {self.min_replicas} stable pods" if self.min_replicas is not None else ""
        head = (
            f"{self.path}: {self.wanted:g}% cannot be reached by the replicas router with "
            f"{self.replicas} stable pods"
        )
        if self.achieved is None:
            return f"{head}: no split gives both environments a pod{needs}"
        return (
            f"{head}: the router applies the nearest weight, {self.achieved:g}%, and the step "
            f"counts as reached there; write {self.achieved:g}%{needs}"
        )


def _achieved(weight: float, *, replicas: int, mode: CapacityMode) -> float | None:
    try:
        plan = compute_replica_plan(target_bp=round(weight * 100), replicas=replicas, mode=mode)
    except RouterError:
        return None
    return plan.canary_bp / 100


def _may_give(weight: float, *, replicas: int, mode: CapacityMode) -> bool:
    """Whether a split of ``replicas`` stable pods (one GPU each) near ``weight`` gives it
    exactly: the canary share is monotone in the pod counts, so only the counts around the
    real-valued solution can. A cheap filter before the full plan (which tries every split)."""
    target = round(weight * 100)
    if target in (0, TOTAL_BASIS_POINTS):
        return True
    if mode is CapacityMode.CONSTANT:  # canary c of the budget: c / replicas
        pairs = [(replicas - c, c) for c in _around(target * replicas / TOTAL_BASIS_POINTS)]
    elif 2 * target <= TOTAL_BASIS_POINTS:  # canary c beside all stable pods
        pairs = [(replicas, c) for c in _around(target * replicas / (TOTAL_BASIS_POINTS - target))]
    else:  # all canary pods beside s stable ones
        pairs = [(s, replicas) for s in _around(replicas * (TOTAL_BASIS_POINTS - target) / target)]
    return any(
        stable >= 1 and canary >= 1 and compute_canary_bp(stable, canary) / 100 == round(weight, 2)
        for stable, canary in pairs
    )


def _around(count: float) -> range:
    return range(max(1, math.floor(count) - 1), math.ceil(count) + 2)


def compute_min_replicas(weight: float, *, mode: CapacityMode, above: int = 0) -> int | None:
    """The smallest stable pod count over ``above`` giving exactly ``weight`` (up to 1000)."""
    for replicas in range(above + 1, _SEARCH_LIMIT + 1):
        if not _may_give(weight, replicas=replicas, mode=mode):
            continue
        if _achieved(weight, replicas=replicas, mode=mode) == round(weight, 2):
            return replicas
    return None


def compute_unreachable_weights(rollout: ModelRollout, *, replicas: int) -> list[UnreachableWeight]:
    """Every ``setWeight`` step the replicas router cannot give exactly with ``replicas`` pods."""
    canary = rollout.spec.strategy.canary
    if canary is None or canary.traffic.router is not RouterKind.REPLICAS:
        return []
    out = []
    for index, step in enumerate(canary.steps):
        weight = step.set_weight
        if weight is None:
            continue
        achieved = _achieved(weight, replicas=replicas, mode=canary.capacity)
        if achieved != round(weight, 2):
            out.append(
                UnreachableWeight(
                    step=index,
                    wanted=weight,
                    achieved=achieved,
                    replicas=replicas,
                    min_replicas=compute_min_replicas(weight, mode=canary.capacity, above=replicas),
                )
            )
    return out
