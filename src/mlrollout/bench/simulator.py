"""Simulator of what the controller sees (STATISTICS.md §6): counters per 15-second scrape.

Counts are drawn exactly where that is possible (Poisson arrivals, binomial routing,
multinomial histogram buckets over a mixture of pods, binomial errors and labels); ``_sum``
is drawn bucket by bucket from the lognormal's conditional moments. Nuisances: diurnal load,
surges, per-pod effects with AR(1) pod noise, shared outages, delayed labels, anomaly
and GPU-fault background. Randomness comes only from the ``numpy.random.Generator`` passed in.
Neighbours: ``scenarios`` (what differs), ``benchmark`` (runs judges on ``SimRun``),
``oracle`` (reads the sufficient statistics in ``SimRun.oracle``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from mlrollout.analysis.kinds import MetricKind
from mlrollout.analysis.observations import EventCounts, Histogram, ScalarValue, Window
from mlrollout.bench.scenarios import Scenario

__all__ = ["SimRun", "SimSettings", "compute_geometric_bounds", "simulate_run"]

Array = NDArray[np.float64]


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

    @property
    def windows(self) -> int:
        """Number of scrape windows in the run."""
        return round(self.duration_s / self.scrape_s)


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

    def windows_at(self, t: int) -> dict[MetricKind, Window]:
        """The windows every judge sees at scrape ``t``, one per metric kind.

        Every metric of a kind reads that kind's window (two anomaly metrics see the same
        simulated anomalies); GPU memory is a steady fraction for threshold checks.
        """
        s = self.settings
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
            return Window(s.scrape_s, canary=c, baseline=b, canary_weight=s.canary_weight)

        latency = Window(s.scrape_s, hist["canary"], hist["baseline"], s.canary_weight)
        memory = ScalarValue(s.gpu_memory)
        return {
            MetricKind.LATENCY_BODY: latency,
            MetricKind.LATENCY_TAIL: latency,
            MetricKind.ERRORS: counts(self.errors, self.requests),
            MetricKind.ACCURACY: counts(self.misses, self.labelled),
            MetricKind.ANOMALIES: counts(self.anomalies, self.requests),
            MetricKind.GPU_HEALTH: counts(self.gpu, self.requests),
            MetricKind.THRESHOLD: Window(s.scrape_s, memory, memory, s.canary_weight),
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


def _moments(mu: Array, sigma: Array, *, edges: Array) -> tuple[Array, Array, Array]:
    """Per-bucket probability, first and second partial moments of a lognormal."""
    log_edges = np.log(edges)
    z = (log_edges - mu[..., None]) / sigma[..., None]
    sig = sigma[..., None]
    prob = np.diff(ndtr(z), axis=-1)
    m1 = np.exp(mu + sigma**2 / 2)[..., None] * np.diff(ndtr(z - sig), axis=-1)
    m2 = np.exp(2 * mu + 2 * sigma**2)[..., None] * np.diff(ndtr(z - 2 * sig), axis=-1)
    return prob, m1, m2


def _histograms(
    rng: np.random.Generator, *, n: Array, log_offsets: Array, sigma: Array, s: SimSettings
) -> tuple[Array, Array]:
    """Cumulative bucket counts and ``_sum`` for one arm; pods share its traffic equally."""
    edges = np.array([0.0, *s.bounds, np.inf])
    edges[0] = 1e-300
    mu = math.log(s.median_s) + log_offsets  # (T, pods)
    prob, m1, m2 = _moments(mu, np.broadcast_to(sigma[:, None], mu.shape), edges=edges)
    prob, m1, m2 = prob.mean(axis=1), m1.mean(axis=1), m2.mean(axis=1)  # mixture over pods
    prob = np.clip(prob, 0.0, None)
    prob /= prob.sum(axis=1, keepdims=True)
    counts = rng.multinomial(n.astype(np.int64), prob).astype(np.float64)
    safe = np.where(prob > 0, prob, 1.0)
    mean_k = np.where(prob > 0, m1 / safe, 0.0)
    var_k = np.clip(np.where(prob > 0, m2 / safe, 0.0) - mean_k**2, 0.0, None)
    sums = (counts * mean_k).sum(axis=1) + rng.standard_normal(len(n)) * np.sqrt(
        (counts * var_k).sum(axis=1)
    )
    cumulative = np.cumsum(counts, axis=1)[:, :-1]
    return cumulative, np.maximum(sums, 0.0)


def simulate_run(rng: np.random.Generator, scenario: Scenario, s: SimSettings) -> SimRun:
    """Draw one replicate of ``scenario`` under ``s``."""
    windows = s.windows
    load = _load(rng, s)
    total = rng.poisson(s.rps * s.scrape_s * load).astype(np.float64)
    n_c = rng.binomial(total.astype(np.int64), s.canary_weight).astype(np.float64)
    n = {"canary": n_c, "baseline": total - n_c}
    active = (np.arange(windows) * s.scrape_s) >= scenario.onset_s
    shared = 0.2 * np.log(load)
    scale = np.where(active, math.log(scenario.latency_scale), 0.0)
    sigma_c = s.sigma + np.where(active, scenario.extra_sigma, 0.0)
    buckets, sums = {}, {}
    for arm, pods, offset, sigma in (
        ("canary", s.canary_pods, shared + scale, sigma_c),
        ("baseline", s.baseline_pods, shared, np.full(windows, s.sigma)),
    ):
        offsets = offset[:, None] + _pod_scales(rng, pods, s)
        buckets[arm], sums[arm] = _histograms(rng, n=n[arm], log_offsets=offsets, sigma=sigma, s=s)
    errors, p_err = _errors(rng, n=n, active=active, scenario=scenario, s=s)
    labelled, misses = _labels(rng, n=n, scenario=scenario, active=active, s=s)
    anomalies = _anomalies(rng, active=active, scenario=scenario, s=s)
    gpu = {
        arm: rng.poisson(s.gpu_background * share, size=windows).astype(np.float64)
        for arm, share in (("canary", s.canary_weight), ("baseline", 1 - s.canary_weight))
    }
    oracle = _oracle_stats(
        rng, n_c=n_c, errors=errors["canary"], p_err=p_err, s=s, scale=scale, sigma_c=sigma_c
    )
    oracle.update(
        labelled_c=labelled["canary"], misses_c=misses["canary"], anomalies_c=anomalies["canary"]
    )
    return SimRun(
        settings=s,
        requests=n,
        buckets=buckets,
        sums=sums,
        errors=errors,
        labelled=labelled,
        misses=misses,
        anomalies=anomalies,
        gpu=gpu,
        oracle=oracle,
    )


def _errors(
    rng: np.random.Generator,
    *,
    n: dict[str, Array],
    active: NDArray[np.bool_],
    scenario: Scenario,
    s: SimSettings,
) -> tuple[dict[str, Array], Array]:
    """Binomial errors per arm; shared outages multiply both arms' rate by 30."""
    windows = len(active)
    outage = np.zeros(windows, dtype=bool)
    for start in np.flatnonzero(rng.uniform(size=windows) < 0.003):
        outage[start : start + 4] = True
    p_err = s.error_rate * np.where(outage, 30.0, 1.0)
    factor = {"canary": np.where(active, scenario.error_factor, 1.0), "baseline": np.ones(windows)}
    errors = {
        a: rng.binomial(n[a].astype(np.int64), np.minimum(p_err * factor[a], 1.0)).astype(
            np.float64
        )
        for a in n
    }
    return errors, p_err


def _anomalies(
    rng: np.random.Generator, *, active: NDArray[np.bool_], scenario: Scenario, s: SimSettings
) -> dict[str, Array]:
    """Distinct anomaly sources per window: background on both arms plus canary bursts."""
    canary_rate = s.anomaly_background * s.canary_weight + np.where(
        active, scenario.anomaly_rate_per_window, 0.0
    )
    baseline_rate = np.full(len(active), s.anomaly_background * (1 - s.canary_weight))
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
    s: SimSettings,
    scale: Array,
    sigma_c: Array,
) -> dict[str, Array]:
    """What an oracle that knows every nuisance would see: canary log-latency statistics."""
    # Centred on the known nuisance offsets: Σ(log x − μ_nuisance) and Σ(log x − μ)^2.
    shift_sum = scale * n_c + np.sqrt(n_c) * sigma_c * rng.standard_normal(len(n_c))
    square_sum = sigma_c**2 * rng.chisquare(np.maximum(n_c, 1.0)) * (n_c > 0)
    return {
        "n": n_c,
        "log_sum": shift_sum,
        "square_sum": square_sum,
        "errors": errors.astype(np.float64),
        "p_err": p_err,
    }
