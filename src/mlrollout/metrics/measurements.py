"""Turn one variant's query results for one window into an analysis ``Measurement``.

Part of the ``metrics`` layer, pure. Providers hand over, per query name of a metric kind
(``spec.template.REQUIRED_QUERIES``), the result of that query in the window: a list of
``(labels, value)`` (one entry per series) or ``None`` when the query returned nothing.
The analysis types come from ``analysis.observations``.

No data is never a number. A measurement is ``None`` (no data) when:

- the *exposure* query is empty, or any value involved is NaN or Inf: ``total`` for errors
  and accuracy, ``buckets`` for latency, ``value`` for a threshold;
- latency-body has no ``sum`` query or an empty one (its test needs mean latencies);
- a bucket's ``le`` label is not a number, or a sum overflows or exceeds ``MAX_MAGNITUDE``
  (2**53, beyond which floats no longer count exactly: counters near 1e308 are garbage).

An empty ``events`` (or ``sources``) query with a present exposure counts as zero events:
counters such as ``model_requests_total{status="500"}`` or Falco's event counter only exist
after their first event. This cannot fake health: the which-arm tests learn only from
events, the same rendered query is used for both variants, so a query that never matches
gives both arms zero events and never any evidence to promote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mlrollout.analysis.observations import EventCounts, Histogram, Measurement, ScalarValue
from mlrollout.spec.template import MetricKind

__all__ = ["MAX_MAGNITUDE", "VectorResult", "compute_measurement"]

MAX_MAGNITUDE = float(2**53)

VectorResult = Sequence[tuple[Mapping[str, str], float]]
"""One query's answer in one window: ``(labels, value)`` per series."""

_COUNTS = (MetricKind.ERRORS, MetricKind.ACCURACY)
_EVENTS = (MetricKind.ANOMALIES, MetricKind.GPU_HEALTH)
_LATENCY = (MetricKind.LATENCY_BODY, MetricKind.LATENCY_TAIL)


class _NoDataError(Exception):
    """Internal: this window has no usable data for the measurement."""


def compute_measurement(
    kind: MetricKind, results: Mapping[str, VectorResult | None]
) -> Measurement | None:
    """The measurement of ``kind`` from ``results`` by query name, or ``None`` for no data."""
    try:
        if kind in _COUNTS:
            return EventCounts(
                events=_events(results.get("events")), exposure=_required(results.get("total"))
            )
        if kind in _EVENTS:
            sources = _events(results["sources"]) if "sources" in results else None
            return EventCounts(events=_events(results.get("events")), exposure=0.0, sources=sources)
        if kind in _LATENCY:
            return _histogram(kind, results)
        return ScalarValue(_required(results.get("value")))
    except _NoDataError:
        return None


def _values(result: VectorResult) -> list[float]:
    values = [value for _, value in result]
    if not all(math.isfinite(v) for v in values):
        raise _NoDataError
    return values


def _finite_sum(values: list[float]) -> float:
    """The exact sum, or no data when it overflows (counters near 1e308 are not numbers
    anyone can compare)."""
    try:
        total = math.fsum(values)
    except OverflowError:
        raise _NoDataError from None
    if not math.isfinite(total) or abs(total) > MAX_MAGNITUDE:
        raise _NoDataError
    return total


def _required(result: VectorResult | None) -> float:
    if not result:
        raise _NoDataError
    return _finite_sum(_values(result))


def _events(result: VectorResult | None) -> float:
    if not result:
        return 0.0
    total = _finite_sum(_values(result))
    if total < 0:
        raise _NoDataError
    return total


def _bound(text: object) -> float:
    """A bucket's ``le`` label as a number; anything else (the canary may export garbage)
    makes the window no data."""
    try:
        bound = float(str(text))
    except ValueError:
        raise _NoDataError from None
    if math.isnan(bound):
        raise _NoDataError
    return bound


def _histogram(kind: MetricKind, results: Mapping[str, VectorResult | None]) -> Histogram:
    buckets = results.get("buckets")
    if not buckets:
        raise _NoDataError
    by_bound: dict[float, float] = {}
    for labels, value in buckets:
        if "le" not in labels or not math.isfinite(value):
            raise _NoDataError
        bound = _bound(labels["le"])
        by_bound[bound] = by_bound.get(bound, 0.0) + value
        if not math.isfinite(by_bound[bound]) or abs(by_bound[bound]) > MAX_MAGNITUDE:
            raise _NoDataError
    total_count = by_bound.pop(math.inf, None)
    if total_count is None:
        total_count = _required(results.get("count"))
    total_sum = 0.0
    if "sum" in results or kind is MetricKind.LATENCY_BODY:
        total_sum = _required(results.get("sum"))
    bounds = sorted(by_bound)
    if any(by_bound[b] < 0 for b in bounds) or total_count < 0 or total_sum < 0:
        raise _NoDataError
    return Histogram(
        bounds=tuple(bounds),
        counts=tuple(by_bound[b] for b in bounds),
        total_sum=total_sum,
        total_count=total_count,
    )
