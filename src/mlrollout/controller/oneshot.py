"""One-shot analysis of two live variants over a past period (``mlrollout analyze``).

Part of the ``controller`` layer: binds templates to two label selectors, fetches every
window of the period from a metrics provider, measures the baseline's accuracy and tail
thresholds on the same period, and runs the chosen judge over the windows in order. The
result is the judge's last look: promote (pass), rollback (fail) or anything else
(inconclusive). Nothing in the cluster is read or changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlrollout.analysis import (
    FlaggerConfig,
    FlaggerJudge,
    Histogram,
    InconclusivePolicy,
    KayentaConfig,
    KayentaJudge,
    KayentaMetric,
    Look,
    MetricKind,
    SequentialConfig,
    SequentialJudge,
    ThresholdCheck,
    compute_tail_thresholds,
)
from mlrollout.analysis.observations import EventCounts, ScalarValue, Window
from mlrollout.controller.analyst import BoundMetric, compute_judged_metric
from mlrollout.errors import SpecError
from mlrollout.metrics.provider import MetricProvider, MetricRequest, VariantScope, record_windows
from mlrollout.spec.template import MetricKind as SpecKind

__all__ = ["OneShot", "compute_boundaries", "run_one_shot"]


@dataclass(frozen=True)
class OneShot:
    """What to analyse: metrics, the two variants, the period, the judge and its bounds."""

    metrics: Sequence[BoundMetric]
    baseline: VariantScope
    canary: VariantScope
    start: datetime
    end: datetime
    interval: timedelta
    judge: str = "sequential"
    alpha: float = 0.01
    beta: float = 0.05
    namespace: str = ""
    service: str = ""


def compute_boundaries(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """Window boundaries covering ``[start, end]`` in whole intervals (at least one)."""
    count = max(1, int((end - start) / interval))
    return [start + interval * i for i in range(count + 1)]


def run_one_shot(provider: MetricProvider, job: OneShot) -> Look:
    """Fetch every window and judge them in order; the last look."""
    if not job.metrics:
        raise SpecError("no metrics to analyse", path="--template")
    boundaries = compute_boundaries(job.start, job.end, job.interval)
    windows = {
        m.key: record_windows(provider, _request(m, job), boundaries=boundaries)
        for m in job.metrics
    }
    judge = _judge(job, windows, (job.end - job.start).total_seconds())
    look: Look | None = None
    for i, end in enumerate(boundaries[1:]):
        elapsed = (end - job.start).total_seconds()
        batch = {key: series[i] for key, series in windows.items()}
        if isinstance(judge, FlaggerJudge):
            look = judge.observe(_values(batch), elapsed_s=elapsed)
        else:
            look = judge.observe(batch, elapsed_s=elapsed)
    assert look is not None
    return look


def _request(metric: BoundMetric, job: OneShot) -> MetricRequest:
    return MetricRequest(
        template=metric.template,
        metric=metric.metric,
        canary=job.canary,
        baseline=job.baseline,
        namespace=job.namespace,
        service=job.service,
        args=dict(metric.args),
    )


def _judge(
    job: OneShot, windows: Mapping[str, list[Window]], duration_s: float
) -> SequentialJudge | KayentaJudge | FlaggerJudge:
    if job.judge == "kayenta":
        kayenta = [
            KayentaMetric(
                name=m.key,
                kind=MetricKind(m.metric.kind.value),
                critical=m.metric.critical,
                allowed_increase=1.0 + _relative(m),
            )
            for m in job.metrics
            if m.metric.kind is not SpecKind.THRESHOLD
        ]
        return KayentaJudge(kayenta, KayentaConfig(interval_s=duration_s, intervals=1))
    if job.judge == "threshold":
        ranges = [
            ThresholdCheck(m.key, m.metric.range.min, m.metric.range.max)
            for m in job.metrics
            if m.metric.range is not None
        ]
        if not ranges:
            raise SpecError("the threshold judge needs metrics of kind 'threshold'", path="--judge")
        return FlaggerJudge(
            ranges,
            FlaggerConfig(
                failure_limit=2,
                iterations=len(next(iter(windows.values()))),
                max_duration_s=duration_s,
            ),
        )
    specs = [compute_judged_metric(m, **_baseline_inputs(m, windows[m.key])) for m in job.metrics]
    config = SequentialConfig(
        alpha=job.alpha,
        beta=job.beta,
        max_duration_s=duration_s,
        on_inconclusive=InconclusivePolicy.PAUSE,
    )
    return SequentialJudge(specs, config)


def _relative(metric: BoundMetric) -> float:
    margin = metric.metric.effective_margin()
    return margin[1] if margin is not None and margin[0] == "relative" else 0.0


def _baseline_inputs(metric: BoundMetric, windows: Sequence[Window]) -> dict[str, Any]:
    """Baseline accuracy and tail thresholds measured on the baseline's own windows."""
    kind = metric.metric.kind
    baselines = [w.baseline for w in windows if w.usable]
    if kind is SpecKind.ACCURACY:
        counts = [b for b in baselines if isinstance(b, EventCounts)]
        labelled = sum(c.exposure for c in counts)
        if labelled <= 0:
            raise SpecError(
                f"{metric.key}: the baseline has no labelled examples in the period", path="--since"
            )
        accuracy = 1 - sum(c.events for c in counts) / labelled
        return {"baseline_accuracy": min(max(accuracy, 0.01), 0.99), "tail_thresholds": ()}
    if kind is SpecKind.LATENCY_TAIL:
        histograms = [b for b in baselines if isinstance(b, Histogram)]
        if not histograms:
            raise SpecError(
                f"{metric.key}: the baseline has no latency data in the period", path="--since"
            )
        total = _sum_histograms(histograms)
        quantile = metric.metric.quantile or 0.99
        return {
            "baseline_accuracy": None,
            "tail_thresholds": compute_tail_thresholds(total, quantile=quantile),
        }
    return {"baseline_accuracy": None, "tail_thresholds": ()}


def _sum_histograms(histograms: Sequence[Histogram]) -> Histogram:
    first = histograms[0]
    counts = [
        sum(h.counts[i] for h in histograms if h.bounds == first.bounds)
        for i in range(len(first.bounds))
    ]
    return Histogram(
        bounds=first.bounds,
        counts=tuple(counts),
        total_sum=sum(h.total_sum for h in histograms),
        total_count=sum(h.total_count for h in histograms),
    )


def _values(batch: Mapping[str, Window]) -> dict[str, float]:
    out = {}
    for key, window in batch.items():
        canary = window.canary if window.usable else None
        out[key] = canary.value if isinstance(canary, ScalarValue) else math.nan
    return out
