"""Named benchmark scenarios and the simulated rollout's documented default margins.

Neighbours: ``simulator`` draws data for a scenario; ``benchmark`` labels outcomes as false
rollback / false promotion from ``truth``; ``simulate`` (CLI) lists them. Default margins:
latency 5% relative, error rate 20% relative, accuracy 0.5 points, anomalies none tolerated
beyond background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from mlrollout.errors import SpecError

__all__ = ["SCENARIOS", "Margins", "Scenario", "Truth", "decide_scenario"]


class Truth(StrEnum):
    """Where the scenario's canary really is relative to the margins."""

    GOOD = "good"  # within every margin: rollback is false
    BAD = "bad"  # beyond a margin: promotion is false
    BOUNDARY = "boundary"  # exactly at a margin: both nulls hold


@dataclass(frozen=True)
class Margins:
    """The rollout's margins in the simulation (``--margin-*`` options change them)."""

    latency: float = 0.05
    errors: float = 0.20
    accuracy_points: float = 0.5
    anomalies: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """What differs on the canary, from ``onset_s`` on, and which metric the oracle tests."""

    name: str
    description: str
    primary: str
    latency_scale: float = 1.0
    extra_sigma: float = 0.0
    error_factor: float = 1.0
    accuracy_drop_points: float = 0.0
    anomaly_rate_per_window: float = 0.0
    onset_s: float = 0.0
    restarts_per_pod_hour: float = 0.0
    """Nuisance on both arms: pod restarts (counter resets) added to the settings' own."""
    slow_share: float = 0.0
    """Nuisance on both arms: a slow path (Pareto tail up to the timeout) for this share of
    requests, appearing with the rollout (absent from the pre-rollout data)."""

    def assess_truth(self, margins: Margins) -> Truth:
        """GOOD, BAD or BOUNDARY for these margins (tail-only judged at the p99)."""
        worst = max(
            self.latency_scale * _tail_factor(self.extra_sigma) - (1 + margins.latency),
            self.error_factor - (1 + margins.errors),
            self.accuracy_drop_points - margins.accuracy_points,
            self.anomaly_rate_per_window - margins.anomalies
            if self.anomaly_rate_per_window
            else -math.inf,
        )
        if abs(worst) < 1e-9:
            return Truth.BOUNDARY
        return Truth.BAD if worst > 0 else Truth.GOOD


def _tail_factor(extra_sigma: float) -> float:
    return math.exp(2.3263 * extra_sigma)


_P99_PLUS_20 = 0.0784  # σ increase that moves the p99 of the lognormal by +20%

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("aa", "A/A: no difference, every nuisance on", "latency-body"),
        Scenario(
            "latency-5pct",
            "latency x1.05 (exactly at the margin)",
            "latency-body",
            latency_scale=1.05,
        ),
        Scenario("latency-10pct", "latency x1.10", "latency-body", latency_scale=1.10),
        Scenario("latency-20pct", "latency x1.20", "latency-body", latency_scale=1.20),
        Scenario(
            "latency-tail", "p99 +20%, median unchanged", "latency-tail", extra_sigma=_P99_PLUS_20
        ),
        Scenario(
            "within-margin", "latency x1.02 against a 5% margin", "latency-body", latency_scale=1.02
        ),
        Scenario(
            "improvement",
            "latency x0.90 and errors x0.5",
            "latency-body",
            latency_scale=0.90,
            error_factor=0.5,
        ),
        Scenario("errors-x1.5", "error rate x1.5", "errors", error_factor=1.5),
        Scenario("errors-x2", "error rate x2", "errors", error_factor=2.0),
        Scenario("accuracy-1pt", "accuracy -1 point", "accuracy", accuracy_drop_points=1.0),
        Scenario("accuracy-2pt", "accuracy -2 points", "accuracy", accuracy_drop_points=2.0),
        Scenario(
            "anomaly-burst",
            "anomaly burst on the canary from 2 min",
            "anomalies",
            anomaly_rate_per_window=1.0,
            onset_s=120.0,
        ),
        Scenario(
            "delayed-onset",
            "latency x1.20 from 10 min on",
            "latency-body",
            latency_scale=1.20,
            onset_s=600.0,
        ),
        Scenario(
            "aa-restarts-tails",
            "A/A with pod restarts (1 per pod-hour) and 0.5% slow-path requests on both arms",
            "latency-body",
            restarts_per_pod_hour=1.0,
            slow_share=0.005,
        ),
    )
}


def decide_scenario(name: str) -> Scenario:
    """The scenario called ``name``; SpecError naming the allowed values otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        allowed = ", ".join(SCENARIOS)
        raise SpecError(
            f"unknown scenario {name!r}; allowed: {allowed}", path="--scenario"
        ) from None
