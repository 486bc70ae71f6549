"""Long-run dispersion of event counts between windows, for tempering a count e-process.

The which-arm test treats every event as an independent draw given the exposure share.
Latency-tail exceedances are not: a canary pod that runs 2 % slower for a few minutes
(AR(1) pod noise) moves the share of slow requests of many windows together, and at high
traffic that shared movement dwarfs the binomial noise the test allows for (a p99 test at
the boundary rolled back 4–7 % of releases at 2,000 req/s, 25 % canary). The remedy here
is the quasi-likelihood one: estimate the dispersion d = Var(counts)/binomial variance over
blocks of ``BATCH`` windows from *earlier* windows only, and raise each window's likelihood
ratio to the power 1/d. Under a normal approximation of the counts with variance d times
the binomial one, the tempered ratio is the correct likelihood ratio, so the tempered
mixture is an (asymptotic) e-process, as the latency-body test is.

The dispersion grows with the events per window: with a long-run variance ψ of the
canary's log-odds of an event per window, d_j = 1 + m_j·θ(1 − θ)·ψ for a window of m_j
events and canary share θ of them. ψ is estimated from squared differences of neighbouring
block proportions over their binomial variance (median / 0.455, robust to a level shift
such as a regression that starts late), scaled by 1.65 (8-window blocks see about 60 % of
an AR(1) φ = 0.7 excess, as in ``gaussian``) and shrunk to ``PRIOR_PSI`` with the weight of
``PRIOR_BLOCKS`` blocks. Neighbours: ``evidence`` (the tail test) feeds it and reads
``factor``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CountDispersion"]

BATCH = 8
PRIOR_BLOCKS = 4.0
PRIOR_PSI = 0.03
"""Prior and floor of the long-run log-odds variance per window: near the p99 of a lognormal
with σ_log 0.5 the log-odds of exceeding a bound moves ~5.3× the log latency, so ~28× the
long-run variance of the log mean latency from pod noise (2 % per pod with φ ≈ 0.7 on 3 canary
and 12 baseline pods: ~9.5e-4 per window), rounded up. A floor, not only a prior: the block
estimate can raise ψ, never lower it below this (see ``psi``)."""
_BLOCK_CORRECTION = 1.65
_CHI2_MEDIAN = 0.4549
_MAX_PAIRS = 480


class CountDispersion:
    """Predictable dispersion factor d ≥ 1 of canary-event counts given all events."""

    def __init__(self) -> None:
        self._block = [0.0, 0.0, 0]  # Σ canary events, Σ events, windows
        self._last: list[float] | None = None  # last block's proportion and events
        self._pairs: list[float] = []  # (Δ block proportion)² over its binomial variance
        self._scales: list[float] = []  # per pair: ψ per unit of excess in that ratio
        self._psi = self._compute_psi()  # changes only when a block completes

    @property
    def psi(self) -> float:
        """ψ from the blocks completed so far, shrunk to ``PRIOR_PSI`` and floored there."""
        return self._psi

    def _compute_psi(self) -> float:
        """ψ from the blocks completed so far, shrunk to ``PRIOR_PSI`` and floored there.

        The floor: a median over a few dozen block pairs is noisy (and low more often than
        high), and a plug-in that comes out low by chance made the tail test roll back
        releases exactly at the margin; the data may only raise the assumed dispersion.
        """
        n = len(self._pairs)
        measured = 0.0
        if n:
            excess = max(float(np.median(self._pairs)) / _CHI2_MEDIAN - 1.0, 0.0)
            measured = excess * float(np.mean(self._scales))
        shrunk = (PRIOR_BLOCKS * PRIOR_PSI + n * measured * _BLOCK_CORRECTION) / (PRIOR_BLOCKS + n)
        return max(shrunk, PRIOR_PSI)

    def factor(self, *, total_events: float, canary_share: float) -> float:
        """d ≥ 1 for a window of ``total_events`` events of which a share ~θ is the canary's."""
        theta = min(max(canary_share, 0.0), 1.0)
        return 1.0 + total_events * theta * (1.0 - theta) * self.psi

    def update(self, *, canary_events: float, total_events: float) -> None:
        """Fold in one window's counts (after the tests used ``factor``).

        Assumes the exposure share is steady within a step (the router's weight), so block
        proportions differ only by noise when κ does not change.
        """
        if total_events <= 0:
            return
        c, m, size = self._block
        c, m, size = c + canary_events, m + total_events, size + 1
        if size < BATCH:
            self._block = [c, m, size]
            return
        self._block = [0.0, 0.0, 0]
        share = c / m
        if self._last is not None:
            last_share, last_m = self._last
            pooled = (c + last_share * last_m) / (m + last_m)
            spread = pooled * (1.0 - pooled)
            binomial = spread * (1.0 / m + 1.0 / last_m)
            if binomial > 0:
                # E(Δp)² = binomial + 2·(θ(1−θ))²·ψ_B/BATCH, ψ_B what a block sees of ψ
                self._pairs = [*self._pairs, (share - last_share) ** 2 / binomial][-_MAX_PAIRS:]
                scale = binomial * BATCH / (2.0 * spread * spread)
                self._scales = [*self._scales, scale][-_MAX_PAIRS:]
                self._psi = self._compute_psi()
        self._last = [share, m]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        return {
            "block": list(self._block),
            "last": self._last,
            "pairs": list(self._pairs),
            "scales": list(self._scales),
        }

    def load(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`to_dict` output (None: state from before dispersion, start afresh)."""
        if state is None:
            return
        block = state["block"]
        self._block = [float(block[0]), float(block[1]), int(block[2])]
        last = state["last"]
        self._last = None if last is None else [float(v) for v in last]
        self._pairs = [float(v) for v in state["pairs"]]
        self._scales = [float(v) for v in state["scales"]]
        self._psi = self._compute_psi()
