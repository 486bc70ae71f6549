"""Observation types: what the controller hands the analysis layer per window and variant.

Neighbours: metric providers (outside this package) build these from scrapes; the per-kind
evidence in ``evidence`` consumes them. A window may be *errored* (the provider failed) or
*empty* (no data); neither is ever evidence of health, and judges record them as such.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from mlrollout.errors import SpecError

__all__ = [
    "EventCounts",
    "Histogram",
    "Measurement",
    "ScalarValue",
    "Window",
    "WindowStatus",
    "compute_counter_increase",
]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SpecError(message, path="analysis.observation")


@dataclass(frozen=True)
class Histogram:
    """A bucketed latency histogram for one variant and window (Prometheus ``le`` semantics).

    ``counts[i]`` is the cumulative number of requests with latency <= ``bounds[i]``;
    ``total_count`` is the ``+Inf`` bucket (``_count``) and ``total_sum`` is ``_sum``.
    """

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    total_sum: float
    total_count: float

    def __post_init__(self) -> None:
        _require(len(self.bounds) == len(self.counts), "histogram bounds and counts differ")
        _require(
            all(b < c for b, c in zip(self.bounds, self.bounds[1:], strict=False)),
            "histogram bounds must increase",
        )
        values = (*self.counts, self.total_count, self.total_sum)
        _require(
            all(math.isfinite(v) and v >= 0 for v in values),
            "histogram values must be finite and non-negative",
        )

    def count_above(self, bound: float) -> float:
        """Requests slower than ``bound``, which must be one of the bucket bounds."""
        index = bisect_left(self.bounds, bound)
        _require(
            index < len(self.bounds) and self.bounds[index] == bound,
            f"{bound} is not a bucket bound",
        )
        return max(self.total_count - self.counts[index], 0.0)


@dataclass(frozen=True)
class EventCounts:
    """Events among an exposure: errors of requests, misclassified of labelled, anomalies.

    ``sources`` is the number of distinct sources (anomalies): when given, it is counted
    instead of ``events`` so one noisy source is not many pieces of evidence.
    """

    events: float
    exposure: float
    sources: float | None = None

    def __post_init__(self) -> None:
        values = [self.events, self.exposure] + ([self.sources] if self.sources else [])
        _require(
            all(math.isfinite(v) and v >= 0 for v in values),
            "event counts must be finite and non-negative",
        )


@dataclass(frozen=True)
class ScalarValue:
    """One query result for a threshold (SLO) check; NaN means no data."""

    value: float


Measurement = Histogram | EventCounts | ScalarValue


class WindowStatus(StrEnum):
    """Whether a window carries data, failed at the provider, or had nothing to report."""

    OK = "ok"
    ERRORED = "errored"
    EMPTY = "empty"


@dataclass(frozen=True)
class Window:
    """Canary and baseline measurements of one metric over one scrape window.

    ``canary_weight`` is the router's canary share (0..1) during the window; count tests use
    realised exposures when present and fall back to it.
    """

    duration_s: float
    canary: Measurement | None = None
    baseline: Measurement | None = None
    canary_weight: float | None = None
    status: WindowStatus = WindowStatus.OK
    error: str | None = None

    def __post_init__(self) -> None:
        _require(self.duration_s >= 0, "window duration must be non-negative")
        weight = self.canary_weight
        _require(weight is None or 0.0 <= weight <= 1.0, "canary weight must be in [0, 1]")

    @property
    def usable(self) -> bool:
        """True when the window has both measurements and no provider failure."""
        return (
            self.status is WindowStatus.OK and self.canary is not None and self.baseline is not None
        )

    @classmethod
    def errored(cls, duration_s: float, error: str) -> Window:
        """A window whose provider query failed."""
        return cls(duration_s=duration_s, status=WindowStatus.ERRORED, error=error)

    @classmethod
    def empty(cls, duration_s: float) -> Window:
        """A window in which the provider returned no data."""
        return cls(duration_s=duration_s, status=WindowStatus.EMPTY)


def compute_counter_increase(samples: Sequence[float]) -> float:
    """Increase of a monotone counter over consecutive samples, treating drops as resets.

    Like PromQL ``increase`` without extrapolation: after a reset the new value counts from
    zero. Callers compute this per pod on the same timestamps for both arms.
    """
    total = 0.0
    for previous, current in itertools.pairwise(samples):
        total += current - previous if current >= previous else current
    return total
