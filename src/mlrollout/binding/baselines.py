"""Pre-rollout baselines: what the stable environment's data before a rollout fixes for it.

Part of ``binding``. Some metrics are judged relative to numbers measured before the rollout
starts: accuracy against the baseline's accuracy, the latency tail at bucket bounds near the
baseline's tail quantile, the latency body with a variance prior from the baseline's spread.
The controller's analyst measures the window and ``simulate`` computes the simulated
service's; both turn it into the same ``BaselineRecord`` here and bind it with
``compute_judged_metric``.
"""

from __future__ import annotations

from mlrollout.analysis import EventCounts, Histogram, compute_tail_thresholds
from mlrollout.analysis.buckets import compute_histogram_cv2
from mlrollout.analysis.observations import Measurement
from mlrollout.model.analysis import MetricKind
from mlrollout.spec.analysis import BaselineRecord

__all__ = ["compute_baseline_record", "needs_baseline"]

_MEASURED = (MetricKind.ACCURACY, MetricKind.LATENCY_TAIL, MetricKind.LATENCY_BODY)


def needs_baseline(kind: MetricKind) -> bool:
    """True when the kind uses pre-rollout data."""
    return kind in _MEASURED


def compute_baseline_record(
    kind: MetricKind, measurement: Measurement | None, *, quantile: float = 0.99
) -> BaselineRecord | None:
    """The kind's baseline from pre-rollout data; None while a required one is missing.

    Accuracy and the latency tail cannot be judged without one; the latency body falls
    back to the default variance prior.
    """
    if kind is MetricKind.ACCURACY:
        if not isinstance(measurement, EventCounts) or measurement.exposure <= 0:
            return None
        accuracy = 1 - measurement.events / measurement.exposure
        return BaselineRecord(accuracy=min(max(accuracy, 0.01), 0.99))
    if kind is MetricKind.LATENCY_TAIL:
        if not isinstance(measurement, Histogram) or measurement.total_count <= 0:
            return None
        thresholds = compute_tail_thresholds(measurement, quantile=quantile)
        return BaselineRecord(tail_thresholds=list(thresholds))
    if kind is MetricKind.LATENCY_BODY and isinstance(measurement, Histogram):
        return BaselineRecord(latency_cv2=compute_histogram_cv2(measurement))
    return BaselineRecord()
