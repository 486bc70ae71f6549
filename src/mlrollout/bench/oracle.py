"""The joint oracle Wald SPRT: knows the true alternative and every nuisance parameter.

Nuisance *parameters*, not their values: the canary pods' effects and AR(1) noise are
filtered with their known variances (``_kalman_llr``), not subtracted.

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
    sigma_t = sigma + np.where(_active(run, scenario), scenario.extra_sigma, 0.0)
    return _kalman_llr(run, mean=o["log_sum"], sigma_t=sigma_t, mu0=mu0, mu1_t=mu1_t)


def _kalman_llr(run: SimRun, *, mean: Array, sigma_t: Array, mu0: float, mu1_t: Array) -> Array:
    """Per-window log likelihood ratio of the canary's mean log latency, pod noise included.

    Each window's mean is μ + c + a_t + e_t: c the canary pods' mean fixed effect, a_t
    their mean AR(1) noise, e_t request sampling noise (σ²/n). The oracle knows those
    variances and φ, not the values, so it filters them out (a Kalman filter per
    hypothesis; both share the gains) — the exact Gaussian likelihood of the path.
    """
    s, n = run.settings, run.oracle["n"]
    pods = s.canary_pods
    ar_var = s.pod_ar_sd**2 / pods
    cov = np.diag([s.pod_sd**2 / pods, ar_var])
    transition = np.diag([1.0, s.pod_ar_phi])
    noise = np.diag([0.0, ar_var * (1 - s.pod_ar_phi**2)])
    ones = np.ones(2)
    state = {0: np.zeros(2), 1: np.zeros(2)}
    llr = np.zeros(n.size)
    for t in range(n.size):
        if t:
            cov = transition @ cov @ transition.T + noise
            state = {h: transition @ m for h, m in state.items()}
        if n[t] <= 0:
            continue
        variance = float(ones @ cov @ ones) + sigma_t[t] ** 2 / n[t]
        gain = cov @ ones / variance
        x = mean[t] / n[t]
        v0 = x - mu0 - float(ones @ state[0])
        v1 = x - mu1_t[t] - float(ones @ state[1])
        llr[t] = (v0**2 - v1**2) / (2 * variance)
        state = {0: state[0] + gain * v0, 1: state[1] + gain * v1}
        cov = cov - np.outer(gain, ones @ cov)
    return llr


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
    guarded: Sequence[str] = (),
) -> OracleOutcome:
    """The joint oracle: Wald SPRTs per metric, combined as the judge combines its metrics.

    It watches what the judge watches: the ``gated`` metrics (shown within their margin
    before promotion) and the ``guarded`` ones (they can only roll back). Every watched
    metric can roll back, so each of the k watched metrics (the regressed one included)
    gets α/k for rollback, as the judge's metrics share α; a guard's role changes what
    promotion waits for, not what rollback costs. A regression (truth bad) is tested on the
    scenario's regressed metric, from its onset on (the oracle knows when the regression
    starts; earlier data say nothing about it). A good canary is promoted once every gated
    metric's SPRT has shown it within its margin (each at β, intersection–union) and rolled
    back if any watched metric shows a regression first. Bounds: Wald's log((1−β)/(α/k))
    and log(β/(1−α/k)) per test.
    """
    truth = scenario.assess_truth(margins)
    if truth is Truth.BOUNDARY:
        return OracleOutcome(AnalysisDecision.PAUSE, None)
    watched = {*gated, *guarded}
    if truth is Truth.BAD:
        share = alpha / len(watched | {scenario.primary})
        llr = _llr(run, scenario=scenario, margins=margins, metric=scenario.primary)
        path = np.cumsum(np.where(_active(run, scenario), llr, 0.0))
        hit = _first(path, math.log((1 - beta) / share), above=True)
        miss = _first(path, math.log(beta / (1 - share)), above=False)
        return _earliest(rollback=hit, promote=miss)
    gates = tuple(gated) or (LATENCY_BODY,)
    metrics = sorted(watched | set(gates))
    k = len(metrics)
    rollbacks, promotes = [], []
    for metric in metrics:
        path = np.cumsum(_llr(run, scenario=scenario, margins=margins, metric=metric))
        up = _first(path, math.log((1 - alpha / k) / beta), above=True)
        down = _first(path, math.log(alpha / k / (1 - beta)), above=False)
        rollbacks.append(down)
        if metric in gates:
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
