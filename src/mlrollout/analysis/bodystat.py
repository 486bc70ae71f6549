"""The latency-body statistic: a winsorized mean of log latency, read from histogram buckets.

Why not ``_sum/_count``: a mean of latencies is dominated by its slowest requests. With
0.5 % of requests on a heavy-tailed slow path (a Pareto factor, capped at a 10 s client
timeout), one such request in a window of ~40 canary requests moves the window's log ratio
of means by more than a unit, far beyond any plug-in variance, and an A/A release was rolled
back in 6 of 20 runs at 50 req/s / 5 % canary (issue 12). Here every request counts at the
log of its bucket's geometric middle, clipped to a fixed range [lo, hi] of bucket bounds, so
one request, however slow (``+Inf`` included), moves an arm's window mean by at most
``width / n`` (``LogClip.width``; n the arm's requests in the window).

The range is fixed once, from the first window with at least ``MIN_REQUESTS`` requests of
both arms pooled (mostly baseline): median ± ``SPREAD`` robust standard deviations of log
latency (interquartile range / 1.349, at least the widest bucket near the median), widened
outwards to bucket bounds. For log-normal latency that clips about 0.1 % of requests at
each end. Properties the test relies on:

- Under A/A the clipped log values of both arms have the same distribution, whatever the
  range, so the difference of window means is centred on 0 (the range is chosen from both
  arms pooled, symmetrically).
- Under a pure scale change by a factor 1 + δ (the shift a margin talks about) the
  difference is log(1 + δ) times the share of requests inside the range (≈ 0.997), up to
  the bucket rounding: buckets must resolve the margin (ratio ≤ 1 + δ/2 near the median,
  which ``plan`` checks); classic coarse buckets bias the shift of a body whose width is
  a bucket or two.
- The margin therefore speaks of the ratio of *geometric* mean latencies (typical
  latency), not of mean latencies; the two agree for a scale change. A change confined to
  the slowest requests is the tail test's to catch (the p99 guard).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlrollout.analysis.observations import Histogram

__all__ = ["MIN_REQUESTS", "SPREAD", "LogClip", "choose_log_clip"]

MIN_REQUESTS = 20
"""Requests (both arms pooled) the window that fixes the range needs at least."""
SPREAD = 3.0
"""Half-width of the range in robust standard deviations of log latency."""
_IQR_TO_SD = 1.349


def _bucket_counts(histogram: Histogram) -> list[float]:
    """Requests per bucket, the ``+Inf`` bucket last (cumulative drops read as zero)."""
    counts, previous = [], 0.0
    for cumulative in (*histogram.counts, histogram.total_count):
        counts.append(max(cumulative - previous, 0.0))
        previous = max(previous, cumulative)
    return counts


@dataclass(frozen=True)
class LogClip:
    """Clipping range [lo, hi] (bucket bounds, seconds) and the log value of every bucket."""

    bounds: tuple[float, ...]
    lo: float
    hi: float

    @property
    def width(self) -> float:
        """log(hi / lo): the most one request can move an arm's sum of clipped logs."""
        return math.log(self.hi / self.lo)

    def _values(self) -> list[float]:
        log_lo, log_hi = math.log(self.lo), math.log(self.hi)
        values = []
        previous: float | None = None
        for bound in self.bounds:
            if previous is None or bound <= self.lo:
                values.append(log_lo)
            elif previous >= self.hi:
                values.append(log_hi)
            else:
                middle = 0.5 * (math.log(previous) + math.log(bound))
                values.append(min(max(middle, log_lo), log_hi))
            previous = bound
        values.append(log_hi)  # +Inf: slower than the last bound ≥ hi
        return values

    def summarise(self, histogram: Histogram) -> tuple[float, float, float]:
        """(mean, variance, requests) of the clipped log latency in one arm's window.

        The histogram must have this range's bucket bounds (a changed bucket layout is a
        different statistic; the caller skips such windows).
        """
        counts = _bucket_counts(histogram)
        n = sum(counts)
        if n <= 0:
            return 0.0, 0.0, 0.0
        values = self._values()
        mean = sum(c * v for c, v in zip(counts, values, strict=True)) / n
        var = sum(c * (v - mean) ** 2 for c, v in zip(counts, values, strict=True)) / n
        return mean, var, n


def _log_quantile(bounds: tuple[float, ...], counts: list[float], q: float) -> float:
    """Log latency at quantile q, interpolated linearly in log within its bucket."""
    total = sum(counts)
    rank = q * total
    cumulative = 0.0
    for i, count in enumerate(counts):
        if count > 0 and cumulative + count >= rank:
            upper = bounds[min(i, len(bounds) - 1)]
            lower = bounds[i - 1] if 0 < i <= len(bounds) - 1 else upper
            if i == 0:
                lower = upper / (bounds[1] / bounds[0]) if len(bounds) > 1 else upper / 2
            share = (rank - cumulative) / count
            return math.log(lower) + share * (math.log(upper) - math.log(lower))
        cumulative += count
    return math.log(bounds[-1])


def choose_log_clip(canary: Histogram, baseline: Histogram) -> LogClip | None:
    """The range from one window of both arms pooled; None when it has too few requests.

    Needs identical bucket bounds on both arms and at least two bounds.
    """
    bounds = baseline.bounds
    if canary.bounds != bounds or len(bounds) < 2:
        return None
    pooled = [a + b for a, b in zip(_bucket_counts(canary), _bucket_counts(baseline), strict=True)]
    if sum(pooled) < MIN_REQUESTS:
        return None
    median = _log_quantile(bounds, pooled, 0.5)
    spread = (_log_quantile(bounds, pooled, 0.75) - _log_quantile(bounds, pooled, 0.25)) / (
        _IQR_TO_SD
    )
    logs = [math.log(b) for b in bounds]
    near = min(range(len(bounds)), key=lambda i: abs(logs[i] - median))
    widest = max(
        logs[min(near + 1, len(logs) - 1)] - logs[near], logs[near] - logs[max(near - 1, 0)]
    )
    half = SPREAD * max(spread, widest)
    below = [b for b, v in zip(bounds, logs, strict=True) if v <= median - half]
    above = [b for b, v in zip(bounds, logs, strict=True) if v >= median + half]
    lo = below[-1] if below else bounds[0]
    hi = above[0] if above else bounds[-1]
    if hi <= lo:  # every request in one bucket at the edge of the layout
        lo, hi = bounds[0], bounds[-1]
    return LogClip(bounds=bounds, lo=lo, hi=hi)
