"""One-shot analysis of two live variants over a past period (``mlrollout analyze``).

Part of the ``controller`` runtime: takes metrics bound by ``binding`` and two label
selectors, fetches every window of the period from a metrics provider, measures the
baseline's accuracy and tail thresholds on the same period, and runs the policy's judge —
built by the same registry the controller uses — over the windows in order. The result is
the judge's last look: promote (pass), rollback (fail) or anything else (inconclusive).
Nothing in the cluster is read or changed. Unlike the controller, which records a failed
query as an errored window and carries on, a provider that cannot answer here is a
``ProviderError`` (exit 6): an outage must never read as a verdict on the canary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mlrollout.analysis import Histogram, Look, compute_tail_thresholds
from mlrollout.analysis.observations import EventCounts, Window
from mlrollout.binding import BoundMetric, build_judge, compute_judged_metric, compute_window
from mlrollout.errors import SpecError
from mlrollout.metrics.provider import MetricProvider, MetricRequest, VariantScope
from mlrollout.model.analysis import MetricKind
from mlrollout.spec.policy import AnalysisPolicy

__all__ = ["LookObserver", "OneShot", "compute_boundaries", "run_one_shot"]


@dataclass(frozen=True)
class OneShot:
    """What to analyse: metrics, the two variants, the period and the analysis policy."""

    metrics: Sequence[BoundMetric]
    baseline: VariantScope
    canary: VariantScope
    start: datetime
    end: datetime
    policy: AnalysisPolicy
    namespace: str = ""
    service: str = ""


def compute_boundaries(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """Window boundaries covering ``[start, end]`` in whole intervals (at least one)."""
    count = max(1, int((end - start) / interval))
    return [start + interval * i for i in range(count + 1)]


LookObserver = Callable[[Look, datetime, Mapping[str, Window]], None]
"""Told every look with its window's end and the windows judged (reports use it)."""


def run_one_shot(
    provider: MetricProvider, job: OneShot, *, observe: LookObserver | None = None
) -> Look:
    """Fetch every window and judge them in order; the last look."""
    if not job.metrics:
        raise SpecError("no metrics to analyse", path="--template")
    boundaries = compute_boundaries(job.start, job.end, compute_window(job.policy))
    windows = {
        m.key: provider.fetch_windows(_request(m, job), boundaries=boundaries) for m in job.metrics
    }
    judged = []
    for m in job.metrics:
        accuracy, tails = _baseline_inputs(m, windows[m.key])
        judged.append(compute_judged_metric(m, baseline_accuracy=accuracy, tail_thresholds=tails))
    duration_s = (job.end - job.start).total_seconds()
    judge = build_judge(job.policy, job.metrics, judged, offset_s=0.0, min_s=0.0, max_s=duration_s)
    look: Look | None = None
    for i, end in enumerate(boundaries[1:]):
        batch = {key: series[i] for key, series in windows.items()}
        look = judge.observe(batch, elapsed_s=(end - job.start).total_seconds())
        if observe is not None:
            observe(look, end, batch)
    if look is None:  # compute_boundaries gives at least one window
        raise SpecError("the period holds no window", path="--since")
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


def _baseline_inputs(
    metric: BoundMetric, windows: Sequence[Window]
) -> tuple[float | None, tuple[float, ...]]:
    """Baseline accuracy and tail thresholds measured on the baseline's own windows."""
    kind = metric.metric.kind
    baselines = [w.baseline for w in windows if w.usable]
    if kind is MetricKind.ACCURACY:
        counts = [b for b in baselines if isinstance(b, EventCounts)]
        labelled = sum(c.exposure for c in counts)
        if labelled <= 0:
            raise SpecError(
                f"{metric.key}: the baseline has no labelled examples in the period", path="--since"
            )
        accuracy = 1 - sum(c.events for c in counts) / labelled
        return min(max(accuracy, 0.01), 0.99), ()
    if kind is MetricKind.LATENCY_TAIL:
        histograms = [b for b in baselines if isinstance(b, Histogram)]
        if not histograms:
            raise SpecError(
                f"{metric.key}: the baseline has no latency data in the period", path="--since"
            )
        total = _sum_histograms(histograms)
        quantile = metric.metric.quantile or 0.99
        return None, compute_tail_thresholds(total, quantile=quantile)
    return None, ()


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
