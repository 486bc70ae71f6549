"""Change detection for rollback: an e-detector over the window a regression starts in.

A rollback e-process that starts at the first window dilutes a regression that starts late
(memory growth, cache fill) with every healthy window before it. The e-detector of Shin,
Ramdas & Rinaldo (arXiv:2203.03532) instead mixes e-processes *started at every window*;
here the starts carry fixed prior weights, so the mixture is itself an e-process and one
threshold bounds the chance of a false alarm **ever** (Ville), not only its average run
length:

    E_n = ¾·E_n^(1) + Σ_{2≤k≤n} w_k·E_n^(k),   w_k = 1 / (8·j·(1 + ln j)²),  j = k − 1

where E^(k) multiplies the per-window likelihood ratios from window k on (each component of
a fixed grid of alternatives separately, then mixed with the grid's weights). Σ_j
1/(j(1 + ln j)²) ≤ 1 + ∫₁^∞ dx/(x(1 + ln x)²) = 2, so the later starts weigh at most ¼, all
start weights at most 1, and, under the null, P(sup_n E_n ≥ 1/α) ≤ α over an unbounded
number of windows and steps: the α of the metric is charged once, with no horizon. The price
is the start weight: a regression starting at window k needs log(1/w_k) more nats than a
fresh test (≈ 2.1 at the start, ≈ 10 after 100 windows, ≈ 12 after 400), against the ¾
(0.3 nats) the cumulative test pays. Most regressions start with the new build and are
decided by the cumulative test within minutes, where a nat is a large part of the time; a
late one has the rest of the step (½ and ¾ on the cumulative test: 10 % slow-down at
200 req/s / 25 %, median 135 s and 120 s; delayed onset at 50 req/s / 5 % rolled back in
98 % and 97 % of 100 runs). The recursion D_n = (D_{n−1} + w_n)·L_n is O(grid) per window.
Neighbours: ``eprocess`` (counts) and ``evidence`` (latency body) feed it per-window log
likelihood ratios.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ChangeDetector", "compute_start_log_weight"]

FloatArray = NDArray[np.float64]

_LOG_FIRST = math.log(0.75)


def compute_start_log_weight(index: int) -> float:
    """log w_k of an e-process started at window ``index`` (1-based); ¾ for the first."""
    if index <= 1:
        return _LOG_FIRST
    j = index - 1
    return -math.log(8.0 * j * (1.0 + math.log(j)) ** 2)


class ChangeDetector:
    """The later-start part of the start-time mixture, per grid component, in log space."""

    def __init__(self, size: int) -> None:
        self.log_d: FloatArray = np.full(size, -math.inf)
        self.windows = 0

    def update(self, step: FloatArray) -> None:
        """Fold in one window's per-component log likelihood ratios (already capped)."""
        self.windows += 1
        if self.windows >= 2:
            self.log_d = np.logaddexp(self.log_d, compute_start_log_weight(self.windows))
        self.log_d = self.log_d + step

    def combine(self, log_e_first: float, log_weights: FloatArray) -> float:
        """log E_n: ¾·(the cumulative mixture ``log_e_first``) + the later starts."""
        later = float(np.logaddexp.reduce(log_weights + self.log_d))
        return float(np.logaddexp(_LOG_FIRST + log_e_first, later))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state (-inf stored as None)."""
        return {
            "log_d": [None if math.isinf(v) else float(v) for v in self.log_d],
            "windows": self.windows,
        }

    def load(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`to_dict` output; None (state written before detection) restarts."""
        if state is None:
            return
        values = [-math.inf if v is None else float(v) for v in state["log_d"]]
        if len(values) != self.log_d.size:
            raise ValueError("stored detector state does not match the mixture grid")
        self.log_d = np.asarray(values, dtype=np.float64)
        self.windows = int(state["windows"])
