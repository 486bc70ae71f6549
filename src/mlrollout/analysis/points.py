"""Time-series points from windows, the way Kayenta and Flagger users query them.

Latency tail is ``histogram_quantile`` with linear interpolation inside the bucket (what the
baseline judges use, and what the sequential judge never decides from); latency body is the
mean ``_sum/_count``; counts are rates per exposure. A window without data gives NaN.
Neighbours: ``kayenta`` and the benchmark's Flagger adapter.
"""

from __future__ import annotations

import math

from mlrollout.analysis.kinds import MetricKind
from mlrollout.analysis.observations import EventCounts, Histogram, Measurement, ScalarValue, Window

__all__ = ["compute_histogram_quantile", "compute_point", "compute_points"]


def compute_histogram_quantile(histogram: Histogram, quantile: float) -> float:
    """Prometheus ``histogram_quantile``: linear interpolation inside the bucket; NaN if empty."""
    total = histogram.total_count
    if total <= 0:
        return math.nan
    rank = quantile * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in zip(histogram.bounds, histogram.counts, strict=True):
        if count >= rank:
            width = count - previous_count
            if width <= 0:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / width
        previous_bound, previous_count = bound, count
    return histogram.bounds[-1] if histogram.bounds else math.nan


def compute_point(measurement: Measurement | None, kind: MetricKind) -> float:
    """One point for one variant; NaN when there is nothing to report."""
    if isinstance(measurement, Histogram):
        if kind is MetricKind.LATENCY_TAIL:
            return compute_histogram_quantile(measurement, 0.99)
        if measurement.total_count <= 0:
            return math.nan
        return measurement.total_sum / measurement.total_count
    if isinstance(measurement, EventCounts):
        if measurement.exposure <= 0:
            return math.nan
        events = measurement.events
        if kind in (MetricKind.ANOMALIES, MetricKind.GPU_HEALTH) and measurement.sources:
            events = measurement.sources
        return events / measurement.exposure
    if isinstance(measurement, ScalarValue):
        return measurement.value
    return math.nan


def compute_points(window: Window, kind: MetricKind) -> tuple[float, float]:
    """(canary, baseline) points of a window; NaN for an errored or empty window."""
    if not window.usable:
        return math.nan, math.nan
    return compute_point(window.canary, kind), compute_point(window.baseline, kind)
