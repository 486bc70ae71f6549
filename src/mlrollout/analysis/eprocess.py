"""The conditional "which arm?" e-process (STATISTICS.md §2), batched per window, in log space.

For an event with canary exposure share ρ and canary/baseline rate ratio κ, the event is
from the canary with probability θ(κ, ρ) = ρκ / (ρκ + 1 − ρ), whatever the shared intensity.
A window with c canary events of m contributes, for a grid alternative κ_g = κ_ref·e^{±γ_g},

    log LR_g = ±c·γ_g − m·log[(ρκ_g + 1 − ρ) / (ρκ_ref + 1 − ρ)]

(binomial coefficients cancel). The mixture Σ π_g Π LR_g is an e-process under the whole
one-sided null. Neighbours: ``evidence`` builds these per metric kind; ``confseq`` uses the
same likelihood for the confidence sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlrollout.analysis.detector import ChangeDetector
from mlrollout.analysis.kinds import Direction

__all__ = [
    "MixtureGrid",
    "WhichArmEProcess",
    "compute_theta",
    "default_grid",
    "focused_grid",
]

FloatArray = NDArray[np.float64]


def compute_theta(kappa: float, rho: float) -> float:
    """P(an event is the canary's) for rate ratio ``kappa`` and canary exposure ``rho``."""
    return rho * kappa / (rho * kappa + 1.0 - rho)


@dataclass(frozen=True)
class MixtureGrid:
    """Fixed mixture over log-offsets γ_g > 0 with prior weights π_g (Σ π_g ≤ 1)."""

    offsets: tuple[float, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.offsets) != len(self.weights) or not self.offsets:
            raise ValueError("mixture grid needs as many weights as offsets")
        if any(g <= 0 for g in self.offsets) or any(w <= 0 for w in self.weights):
            raise ValueError("mixture offsets and weights must be positive")
        if sum(self.weights) > 1.0 + 1e-9:
            raise ValueError("mixture weights must sum to at most 1")


def default_grid(*, burst: bool = False, points: int = 10) -> MixtureGrid:
    """Log-spaced offsets γ in [0.025, 3]; with ``burst`` 20% of the prior sits on κ·e^9.

    The burst component makes a run of ~3 canary-only events at 5% weight trip a rollback.
    """
    offsets = tuple(float(g) for g in np.geomspace(0.025, 3.0, points))
    if not burst:
        return MixtureGrid(offsets=offsets, weights=tuple([1.0 / points] * points))
    spread = tuple([0.8 / points] * points)
    return MixtureGrid(offsets=(*offsets, 9.0), weights=(*spread, 0.2))


FOCUS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
"""Promote-grid offsets as multiples of the gap between the margin and no difference."""


def focused_grid(gap: float) -> MixtureGrid:
    """A promote grid on the gap |log κ1| between the margin and no difference.

    Promotion is shown for a canary near no difference; mass on large improvements has no
    drift there (STATISTICS.md §8). Falls back to the default grid for tiny gaps.
    """
    if gap < 0.01:
        return default_grid()
    offsets = tuple(gap * f for f in FOCUS)
    return MixtureGrid(offsets=offsets, weights=tuple([1.0 / len(offsets)] * len(offsets)))


class WhichArmEProcess:
    """One-sided mixture e-process for the rate ratio κ against ``kappa_ref``.

    ``Direction.ABOVE`` tests H: κ ≤ κ_ref (grid above, evidence for rollback);
    ``Direction.BELOW`` tests H: κ ≥ κ_ref (grid below, evidence for promotion).
    ``cap`` bounds each component's per-window factor (min(LR, cap) keeps the
    supermartingale property) so one bursty window cannot decide alone. With ``detect``
    the e-value is the start-time mixture of ``detector`` (¾ on the first window): it
    also watches for a change that starts late.
    """

    def __init__(
        self,
        *,
        kappa_ref: float,
        direction: Direction,
        grid: MixtureGrid,
        cap: float | None = None,
        detect: bool = False,
    ) -> None:
        if kappa_ref <= 0:
            raise ValueError("kappa_ref must be positive")
        self.kappa_ref = kappa_ref
        self.direction = direction
        self.grid = grid
        self.cap = cap
        sign = 1.0 if direction is Direction.ABOVE else -1.0
        self._gamma: FloatArray = sign * np.asarray(grid.offsets, dtype=np.float64)
        self._kappas: FloatArray = kappa_ref * np.exp(self._gamma)
        self._log_weights: FloatArray = np.log(np.asarray(grid.weights, dtype=np.float64))
        self._log_cap = math.log(cap) if cap is not None else math.inf
        self.log_lr: FloatArray = np.zeros(len(grid.offsets))
        self.events = 0.0
        self.detector = ChangeDetector(len(grid.offsets)) if detect else None

    def update(
        self,
        *,
        canary_events: float,
        total_events: float,
        canary_share: float,
        dispersion: float = 1.0,
    ) -> None:
        """Fold in one window: ``canary_events`` of ``total_events`` at exposure share ρ.

        ``dispersion`` d ≥ 1 (predictable) tempers the window's likelihood ratio to LR^(1/d)
        for counts more variable than binomial (see ``dispersion``).
        """
        if total_events <= 0 or not 0.0 < canary_share < 1.0:
            return
        rho = canary_share
        ratio = (rho * self._kappas + 1.0 - rho) / (rho * self.kappa_ref + 1.0 - rho)
        raw = (canary_events * self._gamma - total_events * np.log(ratio)) / max(dispersion, 1.0)
        step = np.minimum(raw, self._log_cap)
        self.log_lr += step
        self.events += total_events
        if self.detector is not None:
            self.detector.update(step)

    @property
    def log_e(self) -> float:
        """log of the mixture e-value (0 before any data)."""
        first = float(np.logaddexp.reduce(self._log_weights + self.log_lr))
        if self.detector is None:
            return first
        return self.detector.combine(first, self._log_weights)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        state: dict[str, Any] = {"log_lr": [float(v) for v in self.log_lr], "events": self.events}
        if self.detector is not None:
            state["detector"] = self.detector.to_dict()
        return state

    def load(self, state: dict[str, Any]) -> None:
        """Restore the state written by :meth:`to_dict` (same configuration)."""
        log_lr = np.asarray(state["log_lr"], dtype=np.float64)
        if log_lr.shape != self.log_lr.shape:
            raise ValueError("stored e-process state does not match the mixture grid")
        self.log_lr = log_lr
        self.events = float(state["events"])
        if self.detector is not None:
            self.detector.load(state.get("detector"))
