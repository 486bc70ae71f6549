"""The oracle Wald SPRT: knows the true alternative and every nuisance parameter.

It tests the same null as the judges — the canary sits exactly at the margin of the
scenario's primary metric — against the scenario's true effect, on the canary's exact
sufficient statistics (log-latency sums, error and label counts, anomaly counts with the
known background). By Wald–Wolfowitz no test of that pair is faster on average, so it is the
yardstick for time to decision. Neighbours: ``simulator`` provides ``SimRun.oracle``;
``benchmark`` runs it next to the judges on the same replicates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mlrollout.analysis.kinds import AnalysisDecision
from mlrollout.bench.scenarios import Margins, Scenario, Truth
from mlrollout.bench.simulator import SimRun

__all__ = ["OracleOutcome", "decide_oracle"]


@dataclass(frozen=True)
class OracleOutcome:
    """AnalysisDecision and the window index (0-based) at which it was reached (None: never)."""

    decision: AnalysisDecision
    window: int | None


def _latency_llr(run: SimRun, *, scenario: Scenario, margins: Margins) -> NDArray[np.float64]:
    o, sigma = run.oracle, run.settings.sigma
    if scenario.primary == "latency-tail":
        # H0: σ0 puts the p99 exactly at the margin; H1: the true σ.
        s0 = sigma + math.log(1 + margins.latency) / 2.3263
        s1 = sigma + scenario.extra_sigma
        return np.asarray(
            -o["n"] * math.log(s1 / s0) - o["square_sum"] / 2 * (1 / s1**2 - 1 / s0**2)
        )
    mu0, mu1 = math.log(1 + margins.latency), math.log(scenario.latency_scale)
    active = _active(run, scenario)
    mu1_t = np.where(active, mu1, 0.0)
    return np.asarray((mu1_t - mu0) / sigma**2 * (o["log_sum"] - o["n"] * (mu0 + mu1_t) / 2))


def _active(run: SimRun, scenario: Scenario) -> NDArray[np.bool_]:
    s = run.settings
    return np.asarray((np.arange(s.windows) * s.scrape_s) >= scenario.onset_s)


def _bernoulli_llr(
    k: NDArray[np.float64],
    n: NDArray[np.float64],
    *,
    p0: NDArray[np.float64],
    p1: NDArray[np.float64],
) -> NDArray[np.float64]:
    return np.asarray(k * np.log(p1 / p0) + (n - k) * np.log((1 - p1) / (1 - p0)))


def _llr(run: SimRun, *, scenario: Scenario, margins: Margins) -> NDArray[np.float64]:
    o, s = run.oracle, run.settings
    active = _active(run, scenario)
    if scenario.primary == "errors":
        p = np.minimum(o["p_err"], 0.5)
        factor = np.where(active, scenario.error_factor, 1.0)
        return _bernoulli_llr(o["errors"], o["n"], p0=p * (1 + margins.errors), p1=p * factor)
    if scenario.primary == "accuracy":
        base = s.miss_rate
        drop = np.where(active, scenario.accuracy_drop_points, 0.0) / 100
        n_lab = o["labelled_c"]
        p0 = np.full_like(n_lab, base + margins.accuracy_points / 100)
        shifted = np.concatenate([np.zeros(s.label_delay_windows), drop])[: len(drop)]
        return _bernoulli_llr(o["misses_c"], n_lab, p0=p0, p1=base + shifted)
    if scenario.primary == "anomalies":
        lam0 = s.anomaly_background * s.canary_weight * (1 + margins.anomalies)
        lam1 = lam0 + np.where(active, scenario.anomaly_rate_per_window, 0.0)
        return np.asarray(o["anomalies_c"] * np.log(lam1 / lam0) - (lam1 - lam0))
    return _latency_llr(run, scenario=scenario, margins=margins)


def decide_oracle(
    run: SimRun, scenario: Scenario, *, margins: Margins, alpha: float, beta: float
) -> OracleOutcome:
    """Run Wald's SPRT (bounds log((1−β)/α) and log(β/(1−α))) on the primary metric."""
    truth = scenario.assess_truth(margins)
    if truth is Truth.BOUNDARY:
        return OracleOutcome(AnalysisDecision.PAUSE, None)
    bad = truth is Truth.BAD
    # The SPRT accepts "truth" at the upper bound; its error there is α if the truth is bad
    # (a false rollback would be accepting it wrongly) and β if the truth is good.
    upper = math.log((1 - beta) / alpha) if bad else math.log((1 - alpha) / beta)
    lower = math.log(beta / (1 - alpha)) if bad else math.log(alpha / (1 - beta))
    path = np.cumsum(_llr(run, scenario=scenario, margins=margins))
    hits = np.flatnonzero((path >= upper) | (path <= lower))
    if hits.size == 0:
        return OracleOutcome(AnalysisDecision.PAUSE, None)
    first = int(hits[0])
    right = path[first] >= upper
    good_call, bad_call = (
        (AnalysisDecision.ROLLBACK, AnalysisDecision.PROMOTE)
        if bad
        else (AnalysisDecision.PROMOTE, AnalysisDecision.ROLLBACK)
    )
    return OracleOutcome(good_call if right else bad_call, first)
