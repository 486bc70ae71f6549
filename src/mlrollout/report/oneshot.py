"""The report record of a one-shot analysis (``mlrollout analyze``), look by look.

Part of the ``report`` layer. ``AnalysisCollector`` is fed every look the judge makes and the
windows behind it (``controller.oneshot.run_one_shot`` calls it), keeps each metric's
evidence series and sums baseline and canary observations into distributions (latency
buckets, event rates); ``record`` returns the finished ``ReportRecord``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime

from mlrollout.analysis import Histogram, Look
from mlrollout.analysis.observations import EventCounts, Measurement, Window
from mlrollout.model.analysis import AnalysisDecision
from mlrollout.report.collect import advise, append_thinned, metric_report
from mlrollout.report.record import (
    MAX_BUCKETS,
    DecisionRecord,
    Distribution,
    EvidencePoint,
    Outcome,
    ReportRecord,
    RunKind,
    RunRef,
)
from mlrollout.spec.analysis import MetricVerdictRecord

__all__ = ["AnalysisCollector"]

_OUTCOME = {AnalysisDecision.PROMOTE: Outcome.PASS, AnalysisDecision.ROLLBACK: Outcome.FAIL}


class AnalysisCollector:
    """Accumulates the looks and windows of one ``analyze`` run into a report record."""

    def __init__(self, *, run: RunRef, judge: str, reproduce: Sequence[str]) -> None:
        self.run = run
        self.judge = judge
        self.reproduce = list(reproduce)
        self.series: dict[str, list[EvidencePoint]] = {}
        self.distributions: dict[str, Distribution] = {}
        self.last: Look | None = None

    def observe(self, look: Look, *, at: datetime, windows: Mapping[str, Window]) -> None:
        """Fold one look (and the windows it judged) into the record."""
        self.last = look
        for m in look.metrics:
            point = EvidencePoint(
                at=at,
                elapsed=look.elapsed_s,
                **{
                    k: v
                    for k, v in m.to_dict().items()
                    if k in ("estimate", "lower", "upper", "e_rollback", "e_promote")
                },
            )
            self.series[m.name] = append_thinned(self.series.get(m.name, []), point)
        for key, window in windows.items():
            if window.usable:
                self.distributions[key] = add_window(self.distributions.get(key), window)

    def record(self, *, now: datetime) -> ReportRecord:
        """The finished record (after at least one look)."""
        look = self.last
        if look is None:
            raise ValueError("no look observed")
        metrics = []
        for m in look.metrics:
            verdict = MetricVerdictRecord.model_validate(m.to_dict())
            report = metric_report(verdict, series=self.series.get(m.name, []))
            metrics.append(
                report.model_copy(update={"distribution": self.distributions.get(m.name)})
            )
        record = ReportRecord(
            kind=RunKind.ANALYSIS,
            generated_at=now,
            run=self.run,
            judge=self.judge,
            metrics=metrics,
            decision=DecisionRecord(
                outcome=_OUTCOME.get(look.decision, Outcome.INCONCLUSIVE),
                reason=look.reason,
                analysis=look.decision,
                analysis_reason=look.reason,
            ),
            reproduce=self.reproduce,
        )
        return advise(record, None)


def add_window(distribution: Distribution | None, window: Window) -> Distribution:
    """``distribution`` with one usable window's baseline and canary added."""
    canary, baseline = window.canary, window.baseline
    current = distribution or _empty(canary)
    if isinstance(canary, Histogram) and isinstance(baseline, Histogram):
        if current.bounds != list(canary.bounds) or canary.bounds != baseline.bounds:
            return current  # buckets changed mid-run: keep what was summed on one layout
        return current.model_copy(
            update={
                "baseline_counts": _add(current.baseline_counts, baseline.counts),
                "canary_counts": _add(current.canary_counts, canary.counts),
                "baseline_total": current.baseline_total + baseline.total_count,
                "canary_total": current.canary_total + canary.total_count,
            }
        )
    if isinstance(canary, EventCounts) and isinstance(baseline, EventCounts):
        return current.model_copy(
            update={
                "baseline_total": current.baseline_total + baseline.exposure,
                "canary_total": current.canary_total + canary.exposure,
                "baseline_events": (current.baseline_events or 0.0) + baseline.events,
                "canary_events": (current.canary_events or 0.0) + canary.events,
            }
        )
    return current


def _empty(sample: Measurement | None) -> Distribution:
    if isinstance(sample, Histogram) and len(sample.bounds) <= MAX_BUCKETS:
        zeros = [0.0] * len(sample.bounds)
        return Distribution(
            bounds=list(sample.bounds), baseline_counts=zeros, canary_counts=list(zeros)
        )
    return Distribution()


def _add(total: Sequence[float], more: Sequence[float]) -> list[float]:
    return [a + b for a, b in zip(total, more, strict=True)]


def quote_selector(labels: Mapping[str, str]) -> str:
    """A selector as one shell word."""
    return shlex.quote(",".join(f"{k}={v}" for k, v in labels.items()))
