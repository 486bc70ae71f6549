"""Confidence sequence for the canary/baseline rate ratio κ of a "which arm?" test.

Keeps the log-likelihood ℓ(κ) on a fixed log-κ grid; the two-sided (1−α) confidence set at
each look is {κ : neither one-sided mixture e-process centred at κ reaches 2/α}, with the
mixture offsets taken as multiples of the grid step. Neighbours: ``eprocess`` (same
likelihood, exact κ_ref for decisions); ``evidence`` reports the interval with each verdict.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["KappaConfidenceSequence"]

_STEP = 0.02
_HALF_WIDTH = 230  # grid covers κ in [e^-4.6, e^4.6] ≈ [0.01, 100]
_OFFSETS = (1, 2, 4, 8, 16, 32, 64, 128)  # mixture offsets in grid steps (γ 0.02..2.56)


class KappaConfidenceSequence:
    """Anytime-valid interval for κ from batched (canary events, events, share) windows."""

    def __init__(self) -> None:
        self._log_kappa: NDArray[np.float64] = _STEP * np.arange(
            -_HALF_WIDTH, _HALF_WIDTH + 1, dtype=np.float64
        )
        self._kappa: NDArray[np.float64] = np.exp(self._log_kappa)
        self.loglik: NDArray[np.float64] = np.zeros(self._log_kappa.size)

    def update(self, *, canary_events: float, total_events: float, canary_share: float) -> None:
        """Fold in one window of events (same arguments as the e-process)."""
        if total_events <= 0 or not 0.0 < canary_share < 1.0:
            return
        rho = canary_share
        self.loglik += canary_events * self._log_kappa - total_events * np.log(
            rho * self._kappa + 1.0 - rho
        )

    def compute_interval(self, alpha: float) -> tuple[float, float]:
        """(lower, upper) bounds on κ at level 1−α; grid-conservative (0 and inf if open)."""
        threshold = math.log(2.0 / alpha)
        size = self.loglik.size
        log_w = -math.log(len(_OFFSETS))
        above = np.full(size, -np.inf)
        below = np.full(size, -np.inf)
        for k in _OFFSETS:
            above[: size - k] = np.logaddexp(above[: size - k], self.loglik[k:] - self.loglik[:-k])
            below[k:] = np.logaddexp(below[k:], self.loglik[:-k] - self.loglik[k:])
        inside = np.flatnonzero((above + log_w < threshold) & (below + log_w < threshold))
        if inside.size == 0:
            best = int(np.argmax(self.loglik))
            inside = np.array([best])
        low_index, high_index = int(inside[0]), int(inside[-1])
        lower = 0.0 if low_index == 0 else float(self._kappa[low_index - 1])
        upper = math.inf if high_index == size - 1 else float(self._kappa[high_index + 1])
        return lower, upper

    def compute_estimate(self) -> float | None:
        """Grid maximum-likelihood κ, or None before any informative data."""
        if not np.any(self.loglik):
            return None
        return float(self._kappa[int(np.argmax(self.loglik))])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        return {"loglik": [float(v) for v in self.loglik]}

    def load(self, state: dict[str, Any]) -> None:
        """Restore the state written by :meth:`to_dict`."""
        loglik = np.asarray(state["loglik"], dtype=np.float64)
        if loglik.shape != self.loglik.shape:
            raise ValueError("stored confidence-sequence state has the wrong size")
        self.loglik = loglik
