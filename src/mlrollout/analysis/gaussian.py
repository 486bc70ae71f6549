"""Asymptotic e-process and confidence sequence for a log ratio of per-window means.

Used by the latency-body test (STATISTICS.md §3): each window gives y = the canary's minus
the baseline's winsorized mean log latency (``bodystat``, read from the buckets) with windows
as units, which absorbs within-window autocorrelation and cancels the shared load. Variance
is a predictable plug-in from *earlier* windows only: τ²/h_j from successive window
differences (shrunk to a prior from the pre-rollout buckets) plus an excess long-run
variance per window from successive differences of block means over blocks of ``BATCH``
windows (shrunk to a prior, floored there); medians
of squared differences keep a late level shift (a regression starting mid-analysis) from
posing as variance. Pod noise correlated between windows (AR(1) with φ ≈ 0.7 per 15 s)
makes a sum of windows about five times as variable as independent windows would be; the
test filters it instead of charging every window the long-run rate: y = μ + a + e with a an
AR(1) of assumed φ (``PHI``) whose long-run variance is the excess, e the window's sampling
noise, and a Kalman filter turns the windows into independent innovations whose likelihood
in μ is the generalised-least-squares one. In the long run that is the same information as
independent windows at the long-run variance; over the first minutes it is up to ~1.6 times
more (a sum of four windows varies half as much as four independent ones), which is where
a clear regression is decided. Assumptions: windows are exchangeable given the load, the
correlation between windows is at least φ = 0.7 per window where it is not white (a smaller
φ with the same long-run variance makes short sums more variable than assumed; white noise
shows in the successive differences instead), pod noise is at least the prior's, and a
persistent pod offset is handled by the margin, not here (STATISTICS.md §5). Given the
variances the likelihood is summarised by S0 = Σ g²/F and S1 = Σ g·ν/F, so a look is
O(grid).
Neighbours: ``evidence`` feeds it; ``eprocess`` is the exact counterpart for counts.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import chi2

from mlrollout.analysis.kinds import Direction

__all__ = ["ROLLBACK_ETAS", "LogRatioEProcess"]

_ETAS: NDArray[np.float64] = np.geomspace(0.025, 0.4, 5)
ROLLBACK_ETAS = _ETAS
"""The default mixture's alternatives (distances of the mean log ratio from the null): a
factor of two apart from 2.5 % to 49 % beyond the margin, each within 9 % of the best
possible evidence for a shift between its neighbours. Five components cost ln 5 = 1.6 nats
(eight, from 1 % to 65 %, cost 2.1 and bought nothing a release engineer would wait for)."""
_LOG_W = -math.log(_ETAS.size)
_MU_GRID: NDArray[np.float64] = np.linspace(-1.5, 1.5, 1501)
BATCH = 8
PRIOR_EXCESS = 1e-3
"""Prior and floor of the long-run excess variance per window of the log ratio: correlated pod
noise of ~1.3% per window with φ ≈ 0.7 adds about (LRF − 1)·0.013² ≈ 8e-4 beyond independence,
rounded up. The block estimate may raise it, never lower it (see ``excess_var``)."""
_BLOCK_CORRECTION = 1.65
"""Blocks of 8 windows see (LRF_8 − 1)/(LRF − 1) ≈ 0.6 of an AR(1) excess at φ = 0.7."""
_PRIOR_BLOCKS = 8.0
PHI = 0.7
"""Assumed lag-one correlation of the pod noise per window (15 s): the long-run excess is
filtered as an AR(1) with this φ (see ``update``)."""
_CHI2_MEDIAN = 0.4549
_MAX_PAIRS = 480


@functools.lru_cache(maxsize=1024)
def _trimmed_scale(size: int) -> float:
    """E[χ²₁ | below its (1 − f) quantile] with f = (size // 10)/size trimmed."""
    kept = 1.0 - (size // 10) / size
    return float(chi2.cdf(chi2.ppf(kept, 1), 3)) / kept


class LogRatioEProcess:
    """Mixture e-processes (both directions) and a CS for the mean of per-window log ratios.

    ``prior_var`` is the per-request variance guess (squared coefficient of variation of
    latency) worth ``prior_windows`` windows; it keeps early looks conservative.
    """

    def __init__(
        self,
        *,
        prior_var: float = 0.5,
        prior_windows: float = 3.0,
        prior_excess: float = PRIOR_EXCESS,
    ) -> None:
        self.prior_var = prior_var
        self.prior_excess = prior_excess
        self.prior_windows = prior_windows
        self.s0 = 0.0
        self.s1 = 0.0
        self.windows = 0
        self._h = 0.0
        self._hy = 0.0
        self._hyy = 0.0
        # successive differences, robust to a level shift such as a regression that starts
        # late: τ² estimates of each pair of neighbouring windows and of neighbouring blocks
        self._last = [0.0, 0.0]  # last window's y and h
        self._pairs: list[float] = []
        self._block_pairs: list[float] = []
        self._last_block = [0.0, 0.0]  # last block's mean and H
        self._block = [0.0, 0.0, 0.0]  # current block: h, h·y, windows
        self._block_h = [0.0, 0.0]  # complete blocks: count, ΣH
        self._robust_pairs: float | None = None
        self._robust_blocks: float | None = None
        self._filter: list[float] | None = None  # AR(1) state: data, regressor, variance

    @staticmethod
    def _robust(pairs: list[float]) -> float:
        """τ² from squared differences: their median over the χ²₁ median (0.455)."""
        return float(np.median(pairs)) / _CHI2_MEDIAN if pairs else 0.0

    @staticmethod
    def _trimmed(pairs: list[float]) -> float:
        """τ² from squared differences: their mean without the largest tenth, made unbiased.

        A late level shift (a regression) is one large pair and falls in the trimmed tenth;
        unlike the median (efficiency ~37 %), the trimmed mean keeps most of the information
        (the τ² of a 60-window step varies ±19 % instead of ±27 %), and the time to decide
        with it. Dividing by E[χ²₁ | below its (1 − f) quantile] = P(χ²₃ < q)/(1 − f), f the
        share trimmed, makes it unbiased for Gaussian differences; below ten pairs nothing is
        trimmed.
        """
        if not pairs:
            return 0.0
        ordered = np.sort(pairs)
        cut = ordered.size // 10
        if cut == 0:
            return float(np.mean(ordered))
        return float(np.mean(ordered[: ordered.size - cut])) / _trimmed_scale(ordered.size)

    @property
    def window_var(self) -> float:
        """Per-request variance from successive window differences (trimmed mean), shrunk to
        the prior."""
        n = len(self._pairs)
        if self._robust_pairs is None:  # recomputed only after a new pair (or a load)
            self._robust_pairs = self._trimmed(self._pairs)
        robust = self._robust_pairs
        return (self.prior_windows * self.prior_var + n * robust) / (self.prior_windows + n)

    @property
    def excess_var(self) -> float:
        """Long-run variance per window beyond what successive windows show.

        Successive differences of block means (blocks of ``BATCH`` windows, nearly
        independent) estimate τ² + H̄_b·ω²·LRF_B/B per request, successive windows
        τ² + h̄·ω²(1 − φ); the difference, per window, is the excess, scaled by the block
        correction and shrunk to ``PRIOR_EXCESS`` with the weight of eight blocks. Medians
        of differences: a late level shift (a regression) is one outlier, not variance.
        Floored at the prior: the median of the ≤ 30 block pairs of an hour has a relative
        spread of ~40 %, and a plug-in that came out low by chance (half the needed excess
        in some runs) let the cumulative test drift past 1/α at the margin (boundary, 200
        req/s, 25 %); the data may raise the assumed pod noise, never remove it.
        """
        pairs = len(self._block_pairs)
        count, total_h = self._block_h
        measured = 0.0
        if pairs >= 1 and total_h > 0:
            if self._robust_blocks is None:  # recomputed only after a new block pair
                self._robust_blocks = self._robust(self._block_pairs)
            spread = self._robust_blocks - self.window_var
            measured = max(spread, 0.0) * BATCH / (total_h / count) * _BLOCK_CORRECTION
        shrunk = (_PRIOR_BLOCKS * self.prior_excess + pairs * measured) / (_PRIOR_BLOCKS + pairs)
        return max(shrunk, self.prior_excess)

    def _fold_block(self, h: float, y: float) -> None:
        block_h, block_hy, size = self._block[0] + h, self._block[1] + h * y, self._block[2] + 1
        if size < BATCH:
            self._block = [block_h, block_hy, size]
            return
        count, total_h = self._block_h
        mean = block_hy / block_h
        if count > 0:
            last_mean, last_h = self._last_block
            pair = (mean - last_mean) ** 2 / (1.0 / block_h + 1.0 / last_h)
            self._block_pairs = [*self._block_pairs, pair][-_MAX_PAIRS:]
            self._robust_blocks = None
        self._last_block = [mean, block_h]
        self._block_h = [count + 1, total_h + block_h]
        self._block = [0.0, 0.0, 0.0]

    def update(
        self, difference: float, *, n_canary: float, n_baseline: float
    ) -> tuple[float, float, float] | None:
        """Fold in one window's difference of per-request means (canary − baseline).

        The latency body passes the difference of winsorized mean log latencies
        (``bodystat``). Returns the filter's (g, ν, F) for the window (see ``_filter_step``; the
        variances are plug-ins from earlier windows only), or None when it carried nothing.
        """
        if min(n_canary, n_baseline) < 1 or not math.isfinite(difference):
            return None
        h = 1.0 / (1.0 / n_canary + 1.0 / n_baseline)
        y = difference
        g, nu, f = self._filter_step(y, self.window_var / h)
        self.s0 += g * g / f
        self.s1 += g * nu / f
        self.windows += 1
        if self.windows > 1:
            last_y, last_h = self._last
            pair = (y - last_y) ** 2 / (1.0 / h + 1.0 / last_h)
            self._pairs = [*self._pairs, pair][-_MAX_PAIRS:]
            self._robust_pairs = None
        self._last = [y, h]
        self._h += h
        self._hy += h * y
        self._hyy += h * y * y
        self._fold_block(h, y)
        return g, nu, f

    def _filter_step(self, y: float, sampling: float) -> tuple[float, float, float]:
        """One Kalman step of y = μ + a + e, a an AR(1) with long-run variance ``excess_var``.

        Returns (g, ν, F): the innovation of y at μ = 0 is ν, at μ it is ν − μ·g, with
        variance F; so the log likelihood of μ is −½ Σ (ν − μ g)²/F and S0 = Σ g²/F,
        S1 = Σ g ν/F are its sufficient statistics (generalised least squares).
        """
        marginal = self.excess_var * (1.0 - PHI) / (1.0 + PHI)
        if self._filter is None:
            a, b, p = 0.0, 0.0, marginal
        else:
            a, b, p = self._filter
            a, b, p = PHI * a, PHI * b, PHI * PHI * p + marginal * (1.0 - PHI * PHI)
        nu, g, f = y - a, 1.0 - b, p + sampling
        gain = p / f
        self._filter = [a + gain * nu, b + gain * g, p * sampling / f]
        return g, nu, f

    def compute_log_e(
        self, *, mu_ref: float, direction: Direction, etas: NDArray[np.float64] | None = None
    ) -> float:
        """log e-value against H: mean ≤ mu_ref (ABOVE) or mean ≥ mu_ref (BELOW).

        ``etas`` are the mixture's alternatives (distances from ``mu_ref``), equally weighted;
        default a wide log-spaced grid.
        """
        grid = _ETAS if etas is None else etas
        sign = 1.0 if direction is Direction.ABOVE else -1.0
        terms = sign * grid * (self.s1 - mu_ref * self.s0) - grid**2 * self.s0 / 2.0
        return float(np.logaddexp.reduce(terms - math.log(grid.size)))

    def compute_final_z(self, *, mu_ref: float) -> float:
        """Fixed-horizon z statistic of the mean against ``mu_ref`` (+inf before data)."""
        if self.s0 <= 0:
            return math.inf
        return (self.s1 / self.s0 - mu_ref) * math.sqrt(self.s0)

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
            "last": list(self._last),
            "pairs": list(self._pairs),
            "block_pairs": list(self._block_pairs),
            "last_block": list(self._last_block),
            "block": list(self._block),
            "block_h": list(self._block_h),
            "filter": self._filter,
        }

    def load(self, state: dict[str, Any]) -> None:
        """Restore the state written by :meth:`to_dict`."""
        self.s0, self.s1 = float(state["s0"]), float(state["s1"])
        self.windows = int(state["windows"])
        self._h, self._hy, self._hyy = float(state["h"]), float(state["hy"]), float(state["hyy"])
        self._last = [float(v) for v in state.get("last", [0.0] * 2)]
        self._pairs = [float(v) for v in state.get("pairs", [])]
        self._robust_pairs = None
        self._block_pairs = [float(v) for v in state.get("block_pairs", [])]
        self._robust_blocks = None
        self._last_block = [float(v) for v in state.get("last_block", [0.0] * 2)]
        self._block = [float(v) for v in state.get("block", [0.0] * 3)]
        self._block_h = [float(v) for v in state.get("block_h", [0.0] * 2)]
        saved = state.get("filter")
        self._filter = None if saved is None else [float(v) for v in saved]
