"""The joint oracle Wald SPRT: knows the true alternative and every nuisance parameter.

Per metric it tests the same null as the judges — the canary sits exactly at the margin —
against the true effect as a function of time (zero before a delayed onset), on the canary's exact
sufficient statistics (log-latency sums, error and label counts, anomaly counts with the
known background). By Wald–Wolfowitz no test of that pair is faster on average, so it is the
yardstick for time to decision. Neighbours: ``simulator`` provides ``SimRun.oracle``;
``benchmark`` runs it next to the judges on the same replicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mlrollout.analysis.kinds import AnalysisDecision
from mlrollout.bench.scenarios import Margins, Scenario, Truth
from mlrollout.bench.simulator import SimRun

__all__ = ["LATENCY_BODY", "LATENCY_TAIL", "OracleOutcome", "decide_oracle"]

Array = NDArray[np.float64]
LATENCY_BODY = "latency-body"
LATENCY_TAIL = "latency-tail"


@dataclass(frozen=True)
class OracleOutcome:
    """AnalysisDecision and the window index (0-based) at which it was reached (None: never)."""

    decision: AnalysisDecision
    window: int | None


def _latency_llr(run: SimRun, *, scenario: Scenario, margins: Margins, tail: bool) -> Array:
    o, sigma = run.oracle, run.settings.sigma
    if tail:
        # H0: σ0 puts the p99 exactly at the margin; H1: the true σ.
        s0 = sigma + math.log(1 + margins.latency) / 2.3263
        s1 = sigma + np.where(_active(run, scenario), scenario.extra_sigma, 0.0)
        return np.asarray(-o["n"] * np.log(s1 / s0) - o["square_sum"] / 2 * (1 / s1**2 - 1 / s0**2))
    mu0 = math.log(1 + margins.latency)
    mu1_t = np.where(_active(run, scenario), math.log(scenario.latency_scale), 0.0)
    return np.asarray((mu1_t - mu0) / sigma**2 * (o["log_sum"] - o["n"] * (mu0 + mu1_t) / 2))


def _active(run: SimRun, scenario: Scenario) -> NDArray[np.bool_]:
    s = run.settings
    return np.asarray((np.arange(s.windows) * s.scrape_s) >= scenario.onset_s)


def _bernoulli_llr(k: Array, n: Array, *, p0: Array, p1: Array) -> Array:
    return np.asarray(k * np.log(p1 / p0) + (n - k) * np.log((1 - p1) / (1 - p0)))


def _llr(run: SimRun, *, scenario: Scenario, margins: Margins, metric: str) -> Array:
    """Per-window log likelihood ratio, true path against the margin, of one metric."""
    o, s = run.oracle, run.settings
    active = _active(run, scenario)
    if metric == "errors":
        p = np.minimum(o["p_err"], 0.5)
        factor = np.where(active, scenario.error_factor, 1.0)
        p0, p1 = p * (1 + margins.errors), p * factor
        return _bernoulli_llr(o["errors"], o["scraped_c"], p0=p0, p1=p1)
    if metric == "accuracy":
        base = s.miss_rate
        drop = np.where(active, scenario.accuracy_drop_points, 0.0) / 100
        n_lab = o["labelled_c"]
        p0 = np.full_like(n_lab, base + margins.accuracy_points / 100)
        shifted = np.concatenate([np.zeros(s.label_delay_windows), drop])[: len(drop)]
        return _bernoulli_llr(o["misses_c"], n_lab, p0=p0, p1=base + shifted)
    if metric == "anomalies":
        lam0 = s.anomaly_background * s.canary_weight * (1 + margins.anomalies)
        lam1 = lam0 + np.where(active, scenario.anomaly_rate_per_window, 0.0)
        return np.asarray(o["anomalies_c"] * np.log(lam1 / lam0) - (lam1 - lam0))
    return _latency_llr(run, scenario=scenario, margins=margins, tail=metric == LATENCY_TAIL)


def _first(path: Array, bound: float, *, above: bool) -> int | None:
    hits = np.flatnonzero(path >= bound if above else path <= bound)
    return int(hits[0]) if hits.size else None


def decide_oracle(
    run: SimRun,
    scenario: Scenario,
    *,
    margins: Margins,
    alpha: float,
    beta: float,
    gated: Sequence[str] = (LATENCY_BODY,),
) -> OracleOutcome:
    """The joint oracle: Wald SPRTs per metric, combined as the judge combines its metrics.

    A regression (truth bad) is tested on the scenario's regressed metric, from its onset on
    (the oracle knows when the regression starts; earlier data say nothing about it). A good
    canary is promoted once every ``gated`` metric's SPRT has shown it within its margin
    (each at β, intersection–union) and rolled back if any shows a regression first (each
    at α/k). Bounds: Wald's log((1−β)/α) and log(β/(1−α)) per test.
    """
    truth = scenario.assess_truth(margins)
    if truth is Truth.BOUNDARY:
        return OracleOutcome(AnalysisDecision.PAUSE, None)
    if truth is Truth.BAD:
        llr = _llr(run, scenario=scenario, margins=margins, metric=scenario.primary)
        path = np.cumsum(np.where(_active(run, scenario), llr, 0.0))
        hit = _first(path, math.log((1 - beta) / alpha), above=True)
        miss = _first(path, math.log(beta / (1 - alpha)), above=False)
        return _earliest(rollback=hit, promote=miss)
    k = max(len(gated), 1)
    rollbacks, promotes = [], []
    for metric in gated or (LATENCY_BODY,):
        path = np.cumsum(_llr(run, scenario=scenario, margins=margins, metric=metric))
        up = _first(path, math.log((1 - alpha / k) / beta), above=True)
        down = _first(path, math.log(alpha / k / (1 - beta)), above=False)
        rollbacks.append(down)
        # A test that first crossed the rollback bound never counts as within margin.
        promotes.append(up if up is not None and (down is None or up < down) else None)
    rollback = min((r for r in rollbacks if r is not None), default=None)
    promote = None if None in promotes else max(p for p in promotes if p is not None)
    return _earliest(rollback=rollback, promote=promote)


def _earliest(*, rollback: int | None, promote: int | None) -> OracleOutcome:
    if rollback is not None and (promote is None or rollback <= promote):
        return OracleOutcome(AnalysisDecision.ROLLBACK, rollback)
    if promote is not None:
        return OracleOutcome(AnalysisDecision.PROMOTE, promote)
    return OracleOutcome(AnalysisDecision.PAUSE, None)
