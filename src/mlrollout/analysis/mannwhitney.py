"""Mann–Whitney U test with the Hodges–Lehmann shift and its asymptotic interval.

Matches R's ``wilcox.test(x, y, conf.int=TRUE, exact=FALSE, correct=TRUE)``: normal
approximation with tie correction and continuity correction for the p-value and interval;
the interval ends and the estimate are the roots in d of the standardised statistic of
``x − d`` against ``y`` (no continuity correction for the estimate), which R finds with
``uniroot``; here bisection to machine precision. Neighbours: ``kayenta`` classifies with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm, rankdata

__all__ = ["MannWhitneyResult", "compute_mann_whitney"]


@dataclass(frozen=True)
class MannWhitneyResult:
    """U of ``x``, two-sided p-value, location shift estimate x − y and its interval."""

    statistic: float
    p_value: float
    estimate: float
    lower: float
    upper: float
    confidence: float


def _standardised(x: NDArray[np.float64], y: NDArray[np.float64], *, correct: bool) -> float:
    nx, ny = x.size, y.size
    ranks = rankdata(np.concatenate([x, y]))
    dz = float(ranks[:nx].sum()) - nx * (nx + 1) / 2 - nx * ny / 2
    _, ties = np.unique(ranks, return_counts=True)
    tie_term = float((ties**3 - ties).sum()) / ((nx + ny) * (nx + ny - 1))
    sigma = math.sqrt(nx * ny / 12 * ((nx + ny + 1) - tie_term))
    if sigma == 0:
        return 0.0
    correction = math.copysign(0.5, dz) if (correct and dz != 0) else 0.0
    return (dz - correction) / sigma


def _edge(
    x: NDArray[np.float64], y: NDArray[np.float64], zq: float, *, correct: bool, upper: bool
) -> float:
    """Bisection for the first d with f(d) <= 0 (or, with ``upper``, the last with f >= 0)."""
    low, high = float(x.min() - y.max()), float(x.max() - y.min())
    for _ in range(100):
        mid = (low + high) / 2
        if mid in (low, high):
            break
        value = _standardised(x - mid, y, correct=correct) - zq
        if value > 0 or (upper and value == 0):
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _root(x: NDArray[np.float64], y: NDArray[np.float64], zq: float, *, correct: bool) -> float:
    """Root in d of the standardised statistic; the middle of a zero plateau, like uniroot."""
    low, high = float(x.min() - y.max()), float(x.max() - y.min())
    if _standardised(x - low, y, correct=correct) - zq <= 0:
        return low
    if _standardised(x - high, y, correct=correct) - zq >= 0:
        return high
    first = _edge(x, y, zq, correct=correct, upper=False)
    last = _edge(x, y, zq, correct=correct, upper=True)
    root = (first + last) / 2
    # Roots sit on pairwise differences; with heavy ties that is often exactly zero.
    return 0.0 if abs(root) <= 1e-9 * max(abs(low), abs(high)) else root


def compute_mann_whitney(
    x: Sequence[float] | NDArray[np.float64],
    y: Sequence[float] | NDArray[np.float64],
    *,
    confidence: float = 0.95,
    correct: bool = True,
) -> MannWhitneyResult:
    """Two-sided test of ``x`` against ``y``; needs at least one value in each."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.size == 0 or ys.size == 0 or not 0 < confidence < 1:
        raise ValueError("Mann-Whitney needs two non-empty samples and 0 < confidence < 1")
    ranks = rankdata(np.concatenate([xs, ys]))
    u = float(ranks[: xs.size].sum()) - xs.size * (xs.size + 1) / 2
    if np.ptp(np.concatenate([xs, ys])) == 0:
        return MannWhitneyResult(u, 1.0, 0.0, 0.0, 0.0, confidence)
    z = _standardised(xs, ys, correct=correct)
    p_value = min(1.0, 2 * min(norm.cdf(z), norm.sf(z)))
    zq = float(norm.ppf(1 - (1 - confidence) / 2))
    return MannWhitneyResult(
        statistic=u,
        p_value=float(p_value),
        estimate=_root(xs, ys, 0.0, correct=False),
        lower=_root(xs, ys, zq, correct=correct),
        upper=_root(xs, ys, -zq, correct=correct),
        confidence=confidence,
    )
