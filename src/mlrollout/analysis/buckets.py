"""Histogram buckets: can they resolve a margin, and which bounds the tail test uses.

Neighbours: ``planning`` warns with ``assess_bucket_resolution``; the spec mapping (or the
simulator) picks latency-tail thresholds from pre-rollout baseline data with
``compute_tail_thresholds``. Never decides from ``histogram_quantile``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from mlrollout.analysis.observations import Histogram
from mlrollout.errors import SpecError

__all__ = [
    "BucketResolution",
    "assess_bucket_resolution",
    "compute_histogram_cv2",
    "compute_tail_thresholds",
]


@dataclass(frozen=True)
class BucketResolution:
    """Bucket growth factor near a latency and whether it resolves the relative margin."""

    factor: float
    required: float
    resolves: bool
    message: str


def assess_bucket_resolution(
    bounds: Sequence[float], *, margin: float, near: float
) -> BucketResolution:
    """Buckets resolve a margin δ near ``near`` when their ratio there is ≤ 1 + δ/2."""
    if len(bounds) < 2:
        raise SpecError("a histogram needs at least two bucket bounds", path="buckets")
    index = min(max(bisect_left(bounds, near), 1), len(bounds) - 1)
    factor = bounds[index] / bounds[index - 1]
    required = 1 + margin / 2
    resolves = factor <= required + 1e-12
    message = (
        f"buckets near {near:.4g}s grow by x{factor:.3f}; a {margin:.0%} margin needs "
        f"<= x{required:.3f}"
    )
    if not resolves:
        message += " (use geometric buckets with that factor, or native histograms)"
    return BucketResolution(factor=factor, required=required, resolves=resolves, message=message)


def compute_tail_thresholds(
    histogram: Histogram, *, quantile: float = 0.99, count: int = 3, spacing: int = 2
) -> tuple[float, ...]:
    """``count`` bucket bounds around the baseline's ``quantile`` in pre-rollout data."""
    if histogram.total_count <= 0:
        raise SpecError("pre-rollout histogram is empty", path="latency-tail")
    rank = quantile * histogram.total_count
    index = next(
        (i for i, c in enumerate(histogram.counts) if c >= rank), len(histogram.bounds) - 1
    )
    half = count // 2
    picks = {
        min(max(index + spacing * k, 0), len(histogram.bounds) - 1)
        for k in range(-half, count - half)
    }
    return tuple(histogram.bounds[i] for i in sorted(picks))


def compute_histogram_cv2(histogram: Histogram) -> float | None:
    """Squared coefficient of variation of latency from pre-rollout buckets (None: no data).

    The second moment puts each bucket's requests at the geometric middle of its bounds
    (the +Inf bucket at 1.5 × the last bound); the mean is ``_sum/_count``. Used as the
    latency-body test's variance prior, clamped to [0.01, 100].
    """
    total = histogram.total_count
    if total <= 0 or histogram.total_sum <= 0:
        return None
    bounds, counts = histogram.bounds, histogram.counts
    second, previous_count, previous_bound = 0.0, 0.0, bounds[0] / 2
    for bound, count in zip(bounds, counts, strict=True):
        middle = (previous_bound * bound) ** 0.5
        second += (count - previous_count) * middle * middle
        previous_count, previous_bound = count, bound
    second += max(total - previous_count, 0.0) * (1.5 * bounds[-1]) ** 2
    mean = histogram.total_sum / total
    return min(max(second / total / (mean * mean) - 1.0, 0.01), 100.0)
