"""Asymptotic e-process and confidence sequence for a log ratio of per-window means.

Used by the latency-body test (STATISTICS.md §3): each window gives y = log(mean canary
latency / mean baseline latency) from ``_sum/_count`` with windows as units, which absorbs
within-window autocorrelation and cancels the shared load. Variance is a predictable
plug-in: a shrunk running estimate from *earlier* windows only. Given the variances the
Gaussian likelihood is summarised by S0 = Σ 1/v and S1 = Σ y/v, so a look is O(grid).
Neighbours: ``evidence`` feeds it; ``eprocess`` is the exact counterpart for counts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlrollout.analysis.kinds import Direction

__all__ = ["LogRatioEProcess"]

_ETAS: NDArray[np.float64] = np.geomspace(0.01, 0.5, 8)
_LOG_W = -math.log(_ETAS.size)
_MU_GRID: NDArray[np.float64] = np.linspace(-1.5, 1.5, 1501)


class LogRatioEProcess:
    """Mixture e-processes (both directions) and a CS for the mean of per-window log ratios.

    ``prior_var`` is the per-request variance guess (squared coefficient of variation of
    latency) worth ``prior_windows`` windows; it keeps early looks conservative.
    """

    def __init__(self, *, prior_var: float = 0.5, prior_windows: float = 3.0) -> None:
        self.prior_var = prior_var
        self.prior_windows = prior_windows
        self.s0 = 0.0
        self.s1 = 0.0
        self.windows = 0
        self._h = 0.0
        self._hy = 0.0
        self._hyy = 0.0

    @property
    def per_request_var(self) -> float:
        """Current plug-in per-request variance (uses only windows already folded in)."""
        spread = 0.0
        if self.windows >= 2 and self._h > 0:
            spread = max(self._hyy - self._hy * self._hy / self._h, 0.0)
        return (self.prior_windows * self.prior_var + spread) / (
            self.prior_windows + max(self.windows - 1, 0)
        )

    def update(
        self, *, canary_mean: float, baseline_mean: float, n_canary: float, n_baseline: float
    ) -> None:
        """Fold in one window's mean latencies and request counts."""
        if min(n_canary, n_baseline) < 1 or min(canary_mean, baseline_mean) <= 0:
            return
        tau2 = self.per_request_var
        ratio = math.log(canary_mean / baseline_mean)
        # log of a mean is biased down by ~var/(2n); correct each arm before differencing.
        y = ratio + tau2 / (2 * n_canary) - tau2 / (2 * n_baseline)
        h = 1.0 / (1.0 / n_canary + 1.0 / n_baseline)
        v = tau2 / h
        self.s0 += 1.0 / v
        self.s1 += y / v
        self.windows += 1
        # The spread is measured on the raw ratios: measured on the corrected ones, the
        # correction (which grows with the variance) would feed back into the variance.
        self._h += h
        self._hy += h * ratio
        self._hyy += h * ratio * ratio

    def compute_log_e(self, *, mu_ref: float, direction: Direction) -> float:
        """log e-value against H: mean ≤ mu_ref (ABOVE) or mean ≥ mu_ref (BELOW)."""
        sign = 1.0 if direction is Direction.ABOVE else -1.0
        terms = sign * _ETAS * (self.s1 - mu_ref * self.s0) - _ETAS**2 * self.s0 / 2.0
        return float(np.logaddexp.reduce(terms + _LOG_W))

    def compute_interval(self, alpha: float) -> tuple[float, float]:
        """(lower, upper) for the mean log ratio at level 1−α (±inf before data)."""
        if self.s0 <= 0:
            return -math.inf, math.inf
        drift = np.outer(self.s1 - _MU_GRID * self.s0, _ETAS)
        penalty = _ETAS**2 * self.s0 / 2.0
        above = np.logaddexp.reduce(drift - penalty, axis=1) + _LOG_W
        below = np.logaddexp.reduce(-drift - penalty, axis=1) + _LOG_W
        inside = np.flatnonzero(np.maximum(above, below) < math.log(2.0 / alpha))
        if inside.size == 0:
            estimate = self.s1 / self.s0
            return estimate, estimate
        return float(_MU_GRID[inside[0]]), float(_MU_GRID[inside[-1]])

    def compute_estimate(self) -> float | None:
        """Precision-weighted mean log ratio, or None before data."""
        return self.s1 / self.s0 if self.s0 > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        return {
            "s0": self.s0,
            "s1": self.s1,
            "windows": self.windows,
            "h": self._h,
            "hy": self._hy,
            "hyy": self._hyy,
        }

    def load(self, state: dict[str, Any]) -> None:
        """Restore the state written by :meth:`to_dict`."""
        self.s0, self.s1 = float(state["s0"]), float(state["s1"])
        self.windows = int(state["windows"])
        self._h, self._hy, self._hyy = float(state["h"]), float(state["hy"]), float(state["hyy"])
