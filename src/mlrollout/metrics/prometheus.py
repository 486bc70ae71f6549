"""``PrometheusProvider``: per-window measurements of canary and baseline from Prometheus.

Implements the ``provider.MetricProvider`` port. For each query of a metric and each variant:

- a *counter query* (``shape``: ``sum [by (...)] (increase(SELECTOR[{{window}}]))``) is
  answered exactly: one instant query fetches SELECTOR's raw samples from ``b0 - lookback``
  to ``bn`` and ``increase`` computes reset-safe increases on the shared boundaries;
- any other query is rendered with ``{{window}}`` = the window's length and evaluated at
  each window's end (both variants at the same timestamps).

The results become ``analysis`` measurements (``measurements``) and one ``Window`` per
window; a window in which either variant has no data is an *empty* window. HTTP goes
through ``promapi`` (errors translated there, transient ones retried). Boundaries should lie
at least one scrape interval in the past so the last scrape is already stored.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from mlrollout.analysis.observations import Window
from mlrollout.errors import SpecError
from mlrollout.metrics.increase import compute_group_increases
from mlrollout.metrics.measurements import VectorResult
from mlrollout.metrics.promapi import PromApi
from mlrollout.metrics.provider import (
    MetricRequest,
    QueryAsk,
    fetch_paired_windows,
)
from mlrollout.metrics.query import compute_promql_duration, render_query
from mlrollout.metrics.settings import compute_settings
from mlrollout.metrics.shape import assess_counter_shape
from mlrollout.retry import PROVIDER_RETRY, RetryPolicy
from mlrollout.spec.policy import PrometheusConfig

__all__ = ["DEFAULT_LOOKBACK", "PrometheusProvider"]

DEFAULT_LOOKBACK = timedelta(minutes=5)
"""How far before the first boundary to look for each series' last sample (staleness)."""


class PrometheusProvider:
    """Canary and baseline measurements per window, from one Prometheus server."""

    def __init__(self, api: PromApi, *, lookback: timedelta = DEFAULT_LOOKBACK) -> None:
        self.api = api
        self.lookback = lookback

    @classmethod
    def from_config(
        cls,
        config: PrometheusConfig | None,
        *,
        environ: Mapping[str, str] | None = None,
        retry: RetryPolicy = PROVIDER_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> PrometheusProvider:
        """A provider for ``config`` and the environment (``settings`` explains precedence)."""
        settings = compute_settings(config, environ=environ)
        return cls(PromApi(settings, retry=retry, sleep=sleep))

    def close(self) -> None:
        """Release the connection pool."""
        self.api.close()

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        """One window per consecutive pair of ``boundaries``; raises on provider failure."""
        return fetch_paired_windows(request, boundaries, self._fetch_query)

    def _fetch_query(self, ask: QueryAsk) -> Sequence[VectorResult | None]:
        stamps = ask.stamps
        try:
            shape = assess_counter_shape(ask.text)
            if shape is not None:
                span = timedelta(seconds=math.ceil(stamps[-1] - stamps[0])) + self.lookback
                selector = render_query(shape.selector, ask.context(window=span))
                rendered = f"{selector}[{compute_promql_duration(span)}]"
                series = self.api.fetch_series(rendered, at=stamps[-1], origin=ask.origin)
                return compute_group_increases(series, boundaries=stamps, group_by=shape.group_by)
            return [self._fetch_instant(ask, span) for span in itertools.pairwise(stamps)]
        except SpecError as exc:
            if exc.source is not None:
                raise
            raise ask.refusal(exc) from exc

    def _fetch_instant(self, ask: QueryAsk, span: tuple[float, float]) -> VectorResult | None:
        window = timedelta(milliseconds=round((span[1] - span[0]) * 1000))
        query = render_query(ask.text, ask.context(window=window))
        result = self.api.fetch_vector(query, at=span[1], origin=ask.origin)
        return result or None
