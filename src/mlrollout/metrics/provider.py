"""The ``MetricProvider`` port: what the controller asks a metrics backend, and the recorder.

Part of the ``metrics`` layer; implementations live beside it (``prometheus``). The
controller describes one metric of one template for a canary and a baseline variant
(``MetricRequest``) and the window boundaries both variants share; a provider answers one
``analysis.observations.Window`` per window. Providers fetch numbers and never judge.

Two ways to ask, by design:

- ``provider.fetch_windows(...)`` raises: ``ProviderUnavailableError`` for an outage,
  ``ProviderError`` for an unusable answer, ``QueryError``/``SpecError`` for a bad query;
- ``record_windows(provider, ...)`` never raises for a provider failure: it returns errored
  windows carrying the reason, so an outage during analysis is a recorded measurement.
  Configuration errors (``SpecError``, including ``QueryError``) still raise: retrying a bad
  query cannot help, and the controller stops early with a condition.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from mlrollout.analysis.observations import Measurement, Window
from mlrollout.errors import ProviderError, SpecError
from mlrollout.metrics.measurements import VectorResult, compute_measurement
from mlrollout.metrics.query import QueryContext
from mlrollout.spec.template import MetricSpec

__all__ = [
    "MetricProvider",
    "MetricRequest",
    "QueryAsk",
    "QueryFetch",
    "QueryOrigin",
    "VariantScope",
    "assess_boundaries",
    "compute_paired_windows",
    "fetch_paired_windows",
    "prometheus_queries",
    "record_windows",
]


@dataclass(frozen=True)
class VariantScope:
    """One variant: its name (``{{variant}}``) and the labels of its ``{{selector}}``."""

    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class MetricRequest:
    """One metric of one template, for a canary and a baseline, with placeholder values."""

    template: str
    metric: MetricSpec
    canary: VariantScope
    baseline: VariantScope
    namespace: str = ""
    service: str = ""
    args: Mapping[str, str] = field(default_factory=dict)
    canary_weight: float | None = None


class MetricProvider(Protocol):
    """A metrics backend: per-window measurements of both variants on shared boundaries."""

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        """One window per consecutive pair of ``boundaries``; raises on provider failure."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def record_windows(
    provider: MetricProvider, request: MetricRequest, *, boundaries: Sequence[datetime]
) -> list[Window]:
    """Like ``fetch_windows``, but a provider failure becomes errored windows with the reason."""
    try:
        return provider.fetch_windows(request, boundaries=boundaries)
    except SpecError:
        raise
    except ProviderError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        return [
            Window.errored((end - start).total_seconds(), reason)
            for start, end in itertools.pairwise(boundaries)
        ]


def assess_boundaries(boundaries: Sequence[datetime]) -> list[datetime]:
    """``boundaries`` when they make at least one window: aware and strictly increasing."""
    if len(boundaries) < 2:
        raise ValueError("need at least two boundaries (one window)")
    if any(b.tzinfo is None for b in boundaries):
        raise ValueError("boundaries must be timezone-aware datetimes")
    if any(later <= earlier for earlier, later in itertools.pairwise(boundaries)):
        raise ValueError("boundaries must increase strictly")
    return list(boundaries)


def compute_paired_windows(
    request: MetricRequest,
    stamps: Sequence[float],
    *,
    canary: Sequence[Measurement | None],
    baseline: Sequence[Measurement | None],
) -> list[Window]:
    """One window per pair of ``stamps``: both variants' measurements, or empty when either
    variant had none (a window is evidence only when both sides were measured)."""
    windows = []
    for index, (start, end) in enumerate(itertools.pairwise(stamps)):
        ours, theirs = canary[index], baseline[index]
        if ours is None or theirs is None:
            windows.append(Window.empty(end - start))
            continue
        windows.append(
            Window(
                duration_s=end - start,
                canary=ours,
                baseline=theirs,
                canary_weight=request.canary_weight,
            )
        )
    return windows


@dataclass(frozen=True)
class QueryOrigin:
    """Where a query comes from, for error messages: template, metric and query name."""

    template: str
    metric: str
    name: str

    def describe(self) -> str:
        """``template 'errors', metric 'error-rate', query 'events'``."""
        return f"template {self.template!r}, metric {self.metric!r}, query {self.name!r}"


@dataclass(frozen=True)
class QueryAsk:
    """One query (``name``: ``text``) of a metric for one variant over the windows' stamps."""

    text: str
    name: str
    request: MetricRequest
    scope: VariantScope
    stamps: list[float]

    @property
    def origin(self) -> QueryOrigin:
        """The template, metric and query, for error messages."""
        return QueryOrigin(self.request.template, self.request.metric.name, self.name)

    def context(self, *, window: timedelta) -> QueryContext:
        """What the query's placeholders are rendered with, for a window of ``window``."""
        return QueryContext(
            selector=self.scope.labels,
            window=window,
            namespace=self.request.namespace,
            service=self.request.service,
            variant=self.scope.name,
            args=self.request.args,
        )

    def refusal(self, exc: SpecError) -> SpecError:
        """``exc`` (the query does not render or parse) as the template's error at the query."""
        return SpecError(
            f"{self.origin.describe()}: {exc.reason}",
            source=f"AnalysisTemplate/{self.request.template}",
            path=f"{self.request.metric.name}.provider.prometheus.queries.{self.name}",
        )


QueryFetch = Callable[[QueryAsk], Sequence[VectorResult | None]]
"""A provider's answer to one query of a metric for one variant: a result per window."""


def fetch_paired_windows(
    request: MetricRequest, boundaries: Sequence[datetime], fetch_query: QueryFetch
) -> list[Window]:
    """A PromQL provider's ``fetch_windows``: every query of the metric answered by
    ``fetch_query`` for both variants on the same checked ``boundaries`` (as stamps), a
    measurement per window, paired by :func:`compute_paired_windows`."""
    stamps = [b.timestamp() for b in assess_boundaries(boundaries)]
    queries = prometheus_queries(request)

    def variant(scope: VariantScope) -> list[Measurement | None]:
        answers = {
            name: fetch_query(QueryAsk(text, name, request, scope, stamps))
            for name, text in queries.items()
        }
        return [
            compute_measurement(request.metric.kind, {n: answers[n][i] for n in answers})
            for i in range(len(stamps) - 1)
        ]

    canary, baseline = variant(request.canary), variant(request.baseline)
    return compute_paired_windows(request, stamps, canary=canary, baseline=baseline)


def prometheus_queries(request: MetricRequest) -> dict[str, str]:
    """The metric's PromQL queries by name (``SpecError`` naming the template if none)."""
    prometheus = request.metric.provider.prometheus
    if prometheus is None:
        raise SpecError(
            f"metric {request.metric.name!r} has no prometheus queries",
            source=f"AnalysisTemplate/{request.template}",
        )
    return dict(prometheus.queries)
