"""Simulator of what the controller sees (STATISTICS.md §6): counters per 15-second scrape.

Arrivals are Poisson and routing binomial at the router's weight (constant, or ramped in
steps); every request is then drawn on its own: a pod, a lognormal latency with that pod's
offset (times a Pareto factor for the share of requests that take a slow path, capped at
the client timeout, which is also an error), an error. Buckets, ``_sum`` and errors are
tallied from those requests, so heavy tails reach ``_sum`` as they would. Counters are
kept per pod; a pod restart loses what it served since the last scrape, and each window's
increase is computed from the scraped counter values with the controller's reset rule
(``analysis.observations.compute_counter_increase``). Nuisances: diurnal load, surges,
per-pod effects with AR(1) pod noise, shared outages, delayed labels, anomaly and GPU-fault
background. Randomness comes only from the ``numpy.random.Generator`` passed in.
Neighbours: ``scenarios`` (what differs), ``benchmark`` (runs judges on ``SimRun``),
``oracle`` (reads the sufficient statistics in ``SimRun.oracle``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from mlrollout.analysis.kinds import MetricKind
from mlrollout.analysis.observations import (
    EventCounts,
    Histogram,
    ScalarValue,
    Window,
    compute_counter_increase,
)
from mlrollout.bench.scenarios import Scenario

__all__ = [
    "CLASSIC_BOUNDS",
    "SimRun",
    "SimSettings",
    "compute_geometric_bounds",
    "compute_weights",
    "simulate_run",
]

Array = NDArray[np.float64]

CLASSIC_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The Prometheus client libraries' default ``le`` buckets (a classic-bucket run)."""
_CHUNK_REQUESTS = 2_000_000  # requests drawn at once, to bound memory at high traffic


def compute_geometric_bounds(
    *, low: float = 0.08, high: float = 0.40, factor: float = 1.025
) -> tuple[float, ...]:
    """Coarse buckets below ``low``, geometric ones (``factor``) to ``high``, coarse above."""
    steps = math.ceil(math.log(high / low) / math.log(factor))
    fine = [round(low * factor**k, 6) for k in range(steps + 1)]
    return (0.005, 0.01, 0.02, 0.04, 0.06, *fine, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class SimSettings:
    """Traffic and nuisance parameters of the simulated service."""

    rps: float = 50.0
    canary_weight: float = 0.05
    scrape_s: float = 15.0
    duration_s: float = 3600.0
    median_s: float = 0.05
    sigma: float = 0.5
    error_rate: float = 0.01
    miss_rate: float = 0.10
    labelled: float = 0.10
    label_delay_windows: int = 8
    anomaly_background: float = 0.2
    gpu_background: float = 0.02
    gpu_memory: float = 0.7
    canary_pods: int = 3
    baseline_pods: int = 12
    pod_sd: float = 0.01
    pod_ar_sd: float = 0.02
    pod_ar_phi: float = 0.7
    bounds: tuple[float, ...] = field(default_factory=compute_geometric_bounds)
    slow_share: float = 0.0
    """Share of requests that take a slow path: latency × a Pareto(``slow_index``) factor."""
    slow_index: float = 1.5
    timeout_s: float = 10.0
    """Client timeout: no latency is observed above it and a timed-out request is an error."""
    restarts_per_pod_hour: float = 0.0
    """Pod restarts (counter resets) per pod and hour, on both arms."""
    weight_ramp: tuple[tuple[float, float], ...] = ()
    """(start second, canary weight) steps; empty: ``canary_weight`` throughout."""

    @property
    def windows(self) -> int:
        """Number of scrape windows in the run."""
        return round(self.duration_s / self.scrape_s)


def compute_weights(s: SimSettings) -> Array:
    """The router's canary weight in each window: ``canary_weight`` or the ramp's steps."""
    weights = np.full(s.windows, s.canary_weight)
    starts = np.arange(s.windows) * s.scrape_s
    for start, weight in sorted(s.weight_ramp):
        weights[starts >= start] = weight
    return weights


@dataclass
class SimRun:
    """One replicate: per-window arrays for both arms plus the oracle's statistics."""

    settings: SimSettings
    requests: dict[str, Array]
    buckets: dict[str, Array]  # cumulative counts per bound, shape (T, K)
    sums: dict[str, Array]
    errors: dict[str, Array]
    labelled: dict[str, Array]
    misses: dict[str, Array]
    anomalies: dict[str, Array]
    gpu: dict[str, Array]
    oracle: dict[str, Array]
    weights: Array = field(default_factory=lambda: np.empty(0))

    def weight_at(self, t: int) -> float:
        """The router's canary weight in window ``t``."""
        return float(self.weights[t]) if self.weights.size else self.settings.canary_weight

    def windows_at(self, t: int) -> dict[MetricKind, Window]:
        """The windows every judge sees at scrape ``t``, one per metric kind.

        Every metric of a kind reads that kind's window (two anomaly metrics see the same
        simulated anomalies); GPU memory is a steady fraction for threshold checks.
        """
        s = self.settings
        weight = self.weight_at(t)
        hist = {
            arm: Histogram(
                bounds=s.bounds,
                counts=tuple(self.buckets[arm][t].tolist()),
                total_sum=float(self.sums[arm][t]),
                total_count=float(self.requests[arm][t]),
            )
            for arm in ("canary", "baseline")
        }

        def counts(events: dict[str, Array], exposure: dict[str, Array]) -> Window:
            c, b = (
                EventCounts(float(events[a][t]), float(exposure[a][t]))
                for a in ("canary", "baseline")
            )
            return Window(s.scrape_s, canary=c, baseline=b, canary_weight=weight)

        latency = Window(s.scrape_s, hist["canary"], hist["baseline"], weight)
        memory = ScalarValue(s.gpu_memory)
        return {
            MetricKind.LATENCY_BODY: latency,
            MetricKind.LATENCY_TAIL: latency,
            MetricKind.ERRORS: counts(self.errors, self.requests),
            MetricKind.ACCURACY: counts(self.misses, self.labelled),
            MetricKind.ANOMALIES: counts(self.anomalies, self.requests),
            MetricKind.GPU_HEALTH: counts(self.gpu, self.requests),
            MetricKind.THRESHOLD: Window(s.scrape_s, memory, memory, weight),
        }


def _load(rng: np.random.Generator, s: SimSettings) -> Array:
    t = np.arange(s.windows) * s.scrape_s
    diurnal = 1.0 + 0.3 * np.sin(2 * np.pi * (t / 86400.0 + rng.uniform()))
    surge = np.ones(s.windows)
    for start in np.flatnonzero(rng.uniform(size=s.windows) < 0.005):
        surge[start : start + 8] = 2.0
    return np.asarray(diurnal * surge, dtype=np.float64)


def _pod_scales(rng: np.random.Generator, pods: int, s: SimSettings) -> Array:
    """log latency offsets per window and pod: fixed pod effect plus AR(1) noise."""
    effect = rng.normal(0.0, s.pod_sd, size=pods)
    innovation = rng.normal(0.0, s.pod_ar_sd * math.sqrt(1 - s.pod_ar_phi**2), (s.windows, pods))
    noise = np.empty_like(innovation)
    noise[0] = rng.normal(0.0, s.pod_ar_sd, size=pods)
    for t in range(1, s.windows):
        noise[t] = s.pod_ar_phi * noise[t - 1] + innovation[t]
    return np.asarray(effect + noise, dtype=np.float64)


@dataclass(frozen=True)
class _Tally:
    """One arm's true counts per window and pod: cumulative ``le`` buckets, sum, errors."""

    buckets: Array  # (T, pods, K + 1), the last column is +Inf (the request count)
    sums: Array  # (T, pods)
    errors: Array  # (T, pods)


def _draw_requests(
    rng: np.random.Generator,
    *,
    n: Array,
    log_offsets: Array,
    sigma: Array,
    p_err: Array,
    cut: Array,
    s: SimSettings,
) -> _Tally:
    """Draw every scraped request of one arm, spread evenly over its pods.

    ``cut[t, pod]`` is the fraction of window ``t`` the pod had served when it restarted
    (0: no restart); what it served before is never scraped, so it is never drawn.
    """
    windows, pods = log_offsets.shape
    share = np.full(pods, 1.0 / pods)
    served = rng.multinomial(n.astype(np.int64), share).astype(np.int64)  # (T, pods)
    kept = rng.binomial(served, 1.0 - cut).ravel()
    mu = (math.log(s.median_s) + log_offsets).ravel()
    spread = np.repeat(sigma, pods)
    log_bounds = np.log(np.asarray(s.bounds))
    width = log_bounds.size + 1
    counts = np.zeros((windows * pods, width))
    sums = np.zeros(windows * pods)
    timed_out = np.zeros(windows * pods)
    ends = np.cumsum(kept)
    first = 0
    while first < kept.size:  # cells in chunks, to bound memory at high traffic
        done = ends[first - 1] if first else 0
        last = max(int(np.searchsorted(ends, done + _CHUNK_REQUESTS, side="right")), first + 1)
        cells = np.repeat(np.arange(last - first), kept[first:last])
        log_latency = np.repeat(mu[first:last], kept[first:last]) + np.repeat(
            spread[first:last], kept[first:last]
        ) * rng.standard_normal(cells.size)
        if s.slow_share > 0:
            slow = np.flatnonzero(rng.uniform(size=cells.size) < s.slow_share)
            log_latency[slow] += np.log1p(rng.pareto(s.slow_index, size=slow.size))
        timed_out[first:last] = np.bincount(
            cells, weights=log_latency >= math.log(s.timeout_s), minlength=last - first
        )
        log_latency = np.minimum(log_latency, math.log(s.timeout_s))
        bucket = np.searchsorted(log_bounds, log_latency, side="left")  # le: latency <= bound
        tally = np.bincount(cells * width + bucket, minlength=(last - first) * width)
        counts[first:last] = tally.reshape(last - first, width)
        sums[first:last] = np.bincount(cells, weights=np.exp(log_latency), minlength=last - first)
        first = last
    errors = timed_out + rng.binomial((kept - timed_out).astype(np.int64), np.repeat(p_err, pods))
    return _Tally(
        np.cumsum(counts.reshape(windows, pods, width), axis=2),
        sums.reshape(windows, pods),
        errors.reshape(windows, pods).astype(np.float64),
    )


def _scraped_increases(true: Array, restarted: NDArray[np.bool_], start: Array) -> Array:
    """Per-window increases (T, pods, ...) as the controller computes them from scrapes.

    A pod's counter grows by what it served and kept (``true``); at a restart it starts again
    from zero, so the scrape after it shows only what was served since. Windows of a
    restart are computed with the controller's reset rule from the two scraped values (a
    counter that grew back beyond its old value hides its reset, as it does in Prometheus).
    """
    increases = true.copy()
    value = start.astype(np.float64)
    for t in range(true.shape[0]):
        previous = value
        value = np.where(_expand(restarted[t], true[t]), 0.0, previous) + true[t]
        for pod in np.flatnonzero(restarted[t]):
            before, after = np.ravel(previous[pod]), np.ravel(value[pod])
            increases[t, pod] = np.reshape(
                [compute_counter_increase((b, a)) for b, a in zip(before, after, strict=True)],
                np.shape(true[t, pod]),
            )
    return increases


def _expand(mask: NDArray[np.bool_], like: Array) -> NDArray[np.bool_]:
    return np.reshape(mask, mask.shape + (1,) * (like.ndim - 1))


def _observe_arm(
    rng: np.random.Generator,
    *,
    n: Array,
    log_offsets: Array,
    sigma: Array,
    p_err: Array,
    s: SimSettings,
    fresh: bool,
) -> tuple[Array, Array, Array, Array]:
    """Scraped cumulative buckets (T, K), ``_sum``, request and error counts of one arm.

    ``fresh`` pods (the canary's) start their counters at zero with the rollout; the
    baseline's have been counting for half an hour.
    """
    windows, pods = log_offsets.shape
    p_restart = s.restarts_per_pod_hour * s.scrape_s / 3600.0
    restarted = rng.uniform(size=(windows, pods)) < p_restart
    cut = np.where(restarted, rng.uniform(size=(windows, pods)), 0.0)
    tally = _draw_requests(
        rng, n=n, log_offsets=log_offsets, sigma=sigma, p_err=p_err, cut=cut, s=s
    )
    served = 0.0 if fresh else 1800.0 / s.scrape_s
    totals = []
    for series in (tally.buckets, tally.sums, tally.errors):
        start = series[0] * served  # counters already running at the rollout's start
        totals.append(_scraped_increases(series, restarted, start).sum(axis=1))
    buckets, sums, errors = totals
    return buckets[:, :-1], sums, buckets[:, -1], errors


def simulate_run(rng: np.random.Generator, scenario: Scenario, s: SimSettings) -> SimRun:
    """Draw one replicate of ``scenario`` under ``s`` (with the scenario's nuisances)."""
    s = replace(
        s,
        restarts_per_pod_hour=s.restarts_per_pod_hour + scenario.restarts_per_pod_hour,
        slow_share=max(s.slow_share, scenario.slow_share),
    )
    windows = s.windows
    load = _load(rng, s)
    weights = compute_weights(s)
    total = rng.poisson(s.rps * s.scrape_s * load).astype(np.float64)
    n_c = rng.binomial(total.astype(np.int64), weights).astype(np.float64)
    n = {"canary": n_c, "baseline": total - n_c}
    active = (np.arange(windows) * s.scrape_s) >= scenario.onset_s
    shared = 0.2 * np.log(load)
    scale = np.where(active, math.log(scenario.latency_scale), 0.0)
    sigma_c = s.sigma + np.where(active, scenario.extra_sigma, 0.0)
    p_err = _error_rates(rng, windows, s)
    factor = np.where(active, scenario.error_factor, 1.0)
    requests, buckets, sums, errors, pod_means = {}, {}, {}, {}, {}
    for arm, pods, offset, sigma, p in (
        ("canary", s.canary_pods, shared + scale, sigma_c, np.minimum(p_err * factor, 1.0)),
        ("baseline", s.baseline_pods, shared, np.full(windows, s.sigma), p_err),
    ):
        pod_scales = _pod_scales(rng, pods, s)
        pod_means[arm] = pod_scales.mean(axis=1)
        offsets = offset[:, None] + pod_scales
        buckets[arm], sums[arm], requests[arm], errors[arm] = _observe_arm(
            rng,
            n=n[arm],
            log_offsets=offsets,
            sigma=sigma,
            p_err=p,
            s=s,
            fresh=arm == "canary",
        )
    labelled, misses = _labels(rng, n=n, scenario=scenario, active=active, s=s)
    anomalies = _anomalies(rng, active=active, scenario=scenario, weights=weights, s=s)
    gpu = {
        arm: rng.poisson(s.gpu_background * share).astype(np.float64)
        for arm, share in (("canary", weights), ("baseline", 1 - weights))
    }
    oracle = _oracle_stats(
        rng,
        n_c=n_c,
        errors=errors["canary"],
        p_err=p_err,
        scale=scale + pod_means["canary"],
        sigma_c=sigma_c,
    )
    oracle.update(
        scraped_c=requests["canary"],
        labelled_c=labelled["canary"],
        misses_c=misses["canary"],
        anomalies_c=anomalies["canary"],
    )
    return SimRun(
        settings=s,
        requests=requests,
        buckets=buckets,
        sums=sums,
        errors=errors,
        labelled=labelled,
        misses=misses,
        anomalies=anomalies,
        gpu=gpu,
        oracle=oracle,
        weights=weights,
    )


def _error_rates(rng: np.random.Generator, windows: int, s: SimSettings) -> Array:
    """Per-window error probability; shared outages multiply both arms' rate by 30."""
    outage = np.zeros(windows, dtype=bool)
    for start in np.flatnonzero(rng.uniform(size=windows) < 0.003):
        outage[start : start + 4] = True
    return np.asarray(s.error_rate * np.where(outage, 30.0, 1.0), dtype=np.float64)


def _anomalies(
    rng: np.random.Generator,
    *,
    active: NDArray[np.bool_],
    scenario: Scenario,
    weights: Array,
    s: SimSettings,
) -> dict[str, Array]:
    """Distinct anomaly sources per window: background on both arms plus canary bursts."""
    canary_rate = s.anomaly_background * weights + np.where(
        active, scenario.anomaly_rate_per_window, 0.0
    )
    baseline_rate = s.anomaly_background * (1 - weights)
    return {
        "canary": rng.poisson(canary_rate).astype(np.float64),
        "baseline": rng.poisson(baseline_rate).astype(np.float64),
    }


def _labels(
    rng: np.random.Generator,
    *,
    n: dict[str, Array],
    scenario: Scenario,
    active: NDArray[np.bool_],
    s: SimSettings,
) -> tuple[dict[str, Array], dict[str, Array]]:
    """Labels arrive ``label_delay_windows`` after the requests they label."""
    delay = s.label_delay_windows
    drop = {
        "canary": np.where(active, scenario.accuracy_drop_points / 100.0, 0.0),
        "baseline": np.zeros(len(active)),
    }
    labelled, misses = {}, {}
    for arm, requests in n.items():
        lab = rng.binomial(requests.astype(np.int64), s.labelled).astype(np.float64)
        miss = rng.binomial(lab.astype(np.int64), s.miss_rate + drop[arm]).astype(np.float64)
        labelled[arm] = np.concatenate([np.zeros(delay), lab[: len(lab) - delay]])
        misses[arm] = np.concatenate([np.zeros(delay), miss[: len(miss) - delay]])
    return labelled, misses


def _oracle_stats(
    rng: np.random.Generator,
    *,
    n_c: Array,
    errors: Array,
    p_err: Array,
    scale: Array,
    sigma_c: Array,
) -> dict[str, Array]:
    """What an oracle that knows every nuisance parameter sees: canary log-latency statistics.

    ``log_sum`` is Σ(log x − shared load offset): the regression plus the canary pods' mean
    offset (pod effects and AR(1) pod noise are random, their parameters known to the
    oracle, their values not); ``square_sum`` is Σ(log x − μ)^2 around each window's mean.
    """
    shift_sum = scale * n_c + np.sqrt(n_c) * sigma_c * rng.standard_normal(len(n_c))
    square_sum = sigma_c**2 * rng.chisquare(np.maximum(n_c, 1.0)) * (n_c > 0)
    return {
        "n": n_c,
        "log_sum": shift_sum,
        "square_sum": square_sum,
        "errors": errors.astype(np.float64),
        "p_err": p_err,
    }
