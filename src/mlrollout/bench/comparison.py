"""The judges as the benchmark runs them on one simulated replicate (common random numbers).

Runs the sequential judge over the metrics the caller bound from the shipped templates
(``mlrollout.binding``, the controller's binding: this package never builds its own), and
Kayenta-style, Flagger-style and oracle judges on the same ``SimRun``. ``compute_pre_rollout``
gives the simulated service's pre-rollout data for that binding. Baseline judges read cached points
so the calibration can re-score them cheaply. Neighbours: ``simulator``, ``oracle``,
``sequential``, ``kayenta``, ``flagger``; ``benchmark`` aggregates the outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from mlrollout.analysis.config import JudgedMetric, SequentialConfig
from mlrollout.analysis.flagger import FlaggerConfig, FlaggerJudge, ThresholdCheck
from mlrollout.analysis.kayenta import KayentaConfig, KayentaJudge, KayentaMetric
from mlrollout.analysis.kinds import AnalysisDecision, MetricKind, Verdict
from mlrollout.analysis.observations import EventCounts, Histogram, Measurement
from mlrollout.analysis.points import compute_histogram_quantile, compute_points
from mlrollout.analysis.sequential import SequentialJudge
from mlrollout.bench.oracle import decide_oracle
from mlrollout.bench.scenarios import Margins, Scenario
from mlrollout.bench.simulator import SimRun, SimSettings

__all__ = [
    "JUDGES",
    "Outcome",
    "assess_kayenta",
    "assess_oracle",
    "assess_sequential",
    "assess_threshold",
    "compute_baseline_points",
    "compute_pre_rollout",
]

JUDGES = ("sequential", "kayenta", "threshold", "oracle")
_KINDS = {
    "latency-body": MetricKind.LATENCY_BODY,
    "latency-tail": MetricKind.LATENCY_TAIL,
    "errors": MetricKind.ERRORS,
    "accuracy": MetricKind.ACCURACY,
    "anomalies": MetricKind.ANOMALIES,
}
_CHECK_WINDOWS = 4  # Flagger-style checks every minute


@dataclass(frozen=True)
class Outcome:
    """One judge on one replicate: decision, when, and canary requests served until then.

    ``failed`` names the metrics whose test failed at a sequential rollback (attribution).
    """

    decision: AnalysisDecision
    time_s: float
    blast_radius: float
    failed: tuple[str, ...] = ()


def _outcome(
    run: SimRun, decision: AnalysisDecision, window: int | None, failed: tuple[str, ...] = ()
) -> Outcome:
    last = run.settings.windows - 1 if window is None else window
    served = float(run.requests["canary"][: last + 1].sum())
    return Outcome(decision, (last + 1) * run.settings.scrape_s, served, failed)


def _latency_distribution(
    s: SimSettings, bounds: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float]:
    """P(latency <= b) at ``bounds`` and the mean latency of the simulated stable service.

    Lognormal requests, a ``slow_share`` of them times a Pareto factor (integrated on a
    fixed grid of its quantiles), every latency capped at the timeout.
    """
    mu, sigma, cap = math.log(s.median_s), s.sigma, s.timeout_s
    quantiles = (np.arange(400) + 0.5) / 400
    shifts = np.array([0.0])
    weights = np.array([1.0])
    if s.slow_share > 0:
        slow = -np.log1p(-quantiles) / s.slow_index  # log of the Pareto factor
        shifts = np.concatenate([shifts, slow])
        weights = np.concatenate([[1 - s.slow_share], np.full(slow.size, s.slow_share / slow.size)])
    m = mu + shifts[:, None]
    cdf = ndtr((np.log(bounds)[None, :] - m) / sigma)
    cdf = np.where(bounds[None, :] >= cap, 1.0, cdf)
    z_cap = (math.log(cap) - m[:, 0]) / sigma
    below = np.exp(m[:, 0] + sigma**2 / 2) * ndtr(z_cap - sigma)
    mean = float(weights @ (below + cap * (1 - ndtr(z_cap))))
    return np.asarray(weights @ cdf, dtype=np.float64), mean


def compute_pre_rollout(s: SimSettings, *, hours: float = 0.5) -> dict[MetricKind, Measurement]:
    """The simulated baseline's expected data over ``hours`` before the rollout, per kind.

    What the controller measures on the stable environment before it starts (latency
    buckets with ``_sum``, labelled predictions); the caller binds it to the metrics.
    """
    total = s.rps * hours * 3600.0
    cdf, mean = _latency_distribution(s, np.asarray(s.bounds))
    histogram = Histogram(s.bounds, tuple(float(v) for v in cdf * total), mean * total, total)
    labelled = total * s.labelled
    return {
        MetricKind.LATENCY_BODY: histogram,
        MetricKind.LATENCY_TAIL: histogram,
        MetricKind.ACCURACY: EventCounts(labelled * s.miss_rate, labelled),
    }


def assess_sequential(
    run: SimRun, *, specs: Sequence[JudgedMetric], config: SequentialConfig
) -> Outcome:
    """Feed the sequential judge scrape by scrape until it decides (windows by kind)."""
    judge = SequentialJudge(specs, config)
    s = run.settings
    for t in range(s.windows):
        by_kind = run.windows_at(t)
        windows = {spec.name: by_kind[spec.kind] for spec in specs}
        look = judge.observe(windows, elapsed_s=(t + 1) * s.scrape_s, detail=False)
        if look.final:
            failed = tuple(m.name for m in look.metrics if m.verdict is Verdict.FAILED)
            return _outcome(run, look.decision, t, failed)
    return _outcome(run, AnalysisDecision.PAUSE, None)


def assess_oracle(
    run: SimRun,
    *,
    scenario: Scenario,
    margins: Margins,
    config: SequentialConfig,
    gated: Sequence[str],
    guarded: Sequence[str] = (),
) -> Outcome:
    """The joint oracle over the judge's gated and guarded metrics (``oracle.decide_oracle``)."""
    result = decide_oracle(
        run,
        scenario,
        margins=margins,
        alpha=config.alpha,
        beta=config.beta,
        gated=gated,
        guarded=guarded,
    )
    return _outcome(run, result.decision, result.window)


def compute_baseline_points(run: SimRun) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kayenta points (T, metrics, 2) and Flagger check values (checks, 3) of one replicate."""
    s = run.settings
    points = np.empty((s.windows, len(_KINDS), 2))
    for t in range(s.windows):
        windows = run.windows_at(t)
        for i, kind in enumerate(_KINDS.values()):
            points[t, i] = compute_points(windows[kind], kind)
    checks = s.windows // _CHECK_WINDOWS
    values = np.empty((checks, 3))
    for c in range(checks):
        span = slice(c * _CHECK_WINDOWS, (c + 1) * _CHECK_WINDOWS)
        counts = run.buckets["canary"][span].sum(axis=0)
        n = float(run.requests["canary"][span].sum())
        hist = Histogram(s.bounds, tuple(counts.tolist()), 0.0, n)
        values[c, 0] = compute_histogram_quantile(hist, 0.99)
        values[c, 1] = run.errors["canary"][span].sum() / n if n > 0 else math.nan
        values[c, 2] = run.anomalies["canary"][span].sum()
    return points, values


def standard_kayenta(margins: Margins, confidence: float = 0.98) -> KayentaJudge:
    """Kayenta canary config: latency and errors groups, quality group, 3 × 20 minutes."""
    metrics = [
        KayentaMetric(
            "latency-body",
            MetricKind.LATENCY_BODY,
            group="latency",
            allowed_increase=1 + margins.latency,
        ),
        KayentaMetric(
            "latency-tail",
            MetricKind.LATENCY_TAIL,
            group="latency",
            allowed_increase=1 + margins.latency,
        ),
        KayentaMetric(
            "errors", MetricKind.ERRORS, group="errors", allowed_increase=1 + margins.errors
        ),
        KayentaMetric("accuracy", MetricKind.ACCURACY, group="quality"),
        KayentaMetric("anomalies", MetricKind.ANOMALIES, group="quality", critical=True),
    ]
    weights = {"latency": 40.0, "errors": 40.0, "quality": 20.0}
    return KayentaJudge(metrics, KayentaConfig(confidence=confidence, group_weights=weights))


def assess_kayenta(
    run: SimRun, *, points: NDArray[np.float64], margins: Margins, confidence: float = 0.98
) -> Outcome:
    """Replay cached points through a Kayenta-style judge."""
    judge = standard_kayenta(margins, confidence)
    names = list(_KINDS)
    for t in range(points.shape[0]):
        row = {
            name: (float(points[t, i, 0]), float(points[t, i, 1])) for i, name in enumerate(names)
        }
        look = judge.observe_points(row, elapsed_s=(t + 1) * run.settings.scrape_s)
        if look.final:
            failed = tuple(m.name for m in look.metrics if m.verdict is Verdict.FAILED)
            return _outcome(run, look.decision, t, failed)
    return _outcome(run, AnalysisDecision.PAUSE, None)


def assess_threshold(
    run: SimRun, *, values: NDArray[np.float64], margins: Margins, looseness: float = 1.5
) -> Outcome:
    """Replay per-minute checks through a Flagger-style judge with absolute limits.

    Limits are the baseline's nominal value × (1 + margin) × ``looseness``: p99 latency,
    error rate, and at most ``looseness`` anomalies per minute.
    """
    s = run.settings
    p99 = s.median_s * math.exp(2.3263 * s.sigma)
    ranges = [
        ThresholdCheck("p99", maximum=p99 * (1 + margins.latency) * looseness),
        ThresholdCheck("error-rate", maximum=s.error_rate * (1 + margins.errors) * looseness),
        ThresholdCheck("anomalies", maximum=looseness),
    ]
    judge = FlaggerJudge(ranges, FlaggerConfig(max_duration_s=s.duration_s))
    for c in range(values.shape[0]):
        row = {"p99": values[c, 0], "error-rate": values[c, 1], "anomalies": values[c, 2]}
        look = judge.observe_values(row, elapsed_s=(c + 1) * _CHECK_WINDOWS * s.scrape_s)
        if look.final:
            return _outcome(run, look.decision, (c + 1) * _CHECK_WINDOWS - 1)
    return _outcome(run, AnalysisDecision.PAUSE, None)
