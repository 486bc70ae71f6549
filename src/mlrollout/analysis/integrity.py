"""Checks that guard the comparison itself: sample-ratio mismatch and pod effects.

Sample-ratio mismatch: the realised canary share of requests is tested against the router
weight with the which-arm e-process at κ = 1 (a binomial test of the share), in both
directions, anytime-valid. Pod effects: with few canary pods a persistent pod difference
looks like a regression as data grows; the margin must exceed the spread of baseline pods.
Neighbours: ``eprocess``; ``planning`` reports the pod warning; the controller flags SRM.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrollout.analysis.eprocess import WhichArmEProcess, default_grid
from mlrollout.analysis.kinds import Direction
from mlrollout.errors import SpecError

__all__ = ["SampleRatioCheck", "compute_pod_margin_floor"]


class SampleRatioCheck:
    """Anytime-valid test that requests split as the router weight says."""

    def __init__(self, *, alpha: float = 0.001) -> None:
        self.alpha = alpha
        grid = default_grid()
        self._up = WhichArmEProcess(kappa_ref=1.0, direction=Direction.ABOVE, grid=grid)
        self._down = WhichArmEProcess(kappa_ref=1.0, direction=Direction.BELOW, grid=grid)

    def update(self, *, canary_requests: float, baseline_requests: float, weight: float) -> None:
        """Fold in one window's request counts at router canary share ``weight`` (0..1)."""
        total = canary_requests + baseline_requests
        for process in (self._up, self._down):
            process.update(canary_events=canary_requests, total_events=total, canary_share=weight)

    @property
    def e_value(self) -> float:
        """Average of the two one-sided e-values (1 before data)."""
        both = np.logaddexp(self._up.log_e, self._down.log_e) - math.log(2)
        return math.exp(min(float(both), 700.0))

    @property
    def mismatch(self) -> bool:
        """True once the split is shown to differ from the weight at level α."""
        return self.e_value >= 1 / self.alpha

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        return {"up": self._up.to_dict(), "down": self._down.to_dict()}

    def load(self, state: dict[str, Any]) -> None:
        """Restore state written by :meth:`to_dict`."""
        self._up.load(state["up"])
        self._down.load(state["down"])


def compute_pod_margin_floor(
    baseline_pod_values: Sequence[float], *, canary_pods: int, z: float = 2.33
) -> float:
    """Smallest relative margin that pod-to-pod spread cannot fake with ``canary_pods`` pods.

    ``baseline_pod_values`` are per-pod means (latency or rates) from before the rollout;
    the floor is z · sd(log value) / sqrt(canary_pods), as a relative margin.
    """
    values = [v for v in baseline_pod_values if v > 0]
    if len(values) < 2 or canary_pods < 1:
        raise SpecError("need two positive baseline pod values and a canary pod", path="pods")
    spread = statistics.stdev(math.log(v) for v in values)
    return math.exp(z * spread / math.sqrt(canary_pods)) - 1
