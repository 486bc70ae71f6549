"""``LocalProvider``: per-window measurements scraped directly from model servers, no Prometheus.

Implements the ``provider.MetricProvider`` port for the local platform (DESIGN.md §5), where
the environments are ``local.modelserver`` processes and no Prometheus runs. The owner calls
``fetch_samples()`` on a schedule (every few seconds): it scrapes each target's Prometheus
text exposition with httpx, parses it with prometheus-client and keeps every series' samples
in memory, stamped with the clock, labelled ``instance`` (the target's host:port) like a
Prometheus scrape would. ``fetch_windows`` then evaluates the template's queries over those
samples (``localquery``: counter queries and distinct-group counts over the conventional
metric names of ``local/instruments.py`` and ``analyses/README.md``), with the same exact,
reset-safe increases (``increase``: a drop is a restart and the new value is the increase)
and the same conversion to analysis types (``measurements``) as the Prometheus provider, so
both return the same observations for the same data.

A target that cannot be scraped contributes no sample (``fetch_samples`` reports it); a
window in which a variant has no sample at all is an *empty* window, never a number. A
query outside the two shapes is a ``SpecError`` naming the template, metric and query.
Samples older than ``retention`` are dropped (the last one before the cut-off is kept as
the starting point of the next increase).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mlrollout.analysis.observations import Window
from mlrollout.clock import Clock, SystemClock
from mlrollout.deadline import bounded_transport, total_deadline
from mlrollout.errors import SpecError
from mlrollout.metrics.increase import Series, compute_group_increases
from mlrollout.metrics.localquery import (
    CounterQuery,
    DistinctQuery,
    LocalQuery,
    VectorSelector,
    assess_local_query,
    assess_selector,
)
from mlrollout.metrics.measurements import VectorResult
from mlrollout.metrics.provider import (
    MetricRequest,
    QueryAsk,
    fetch_paired_windows,
)
from mlrollout.metrics.query import render_query

__all__ = ["DEFAULT_RETENTION", "LocalProvider", "ScrapeReport", "compute_exposition_samples"]

DEFAULT_RETENTION = timedelta(hours=2)
"""How long scraped samples are kept: longer than any analysis step's windows."""

_Key = tuple[tuple[str, str], ...]
"""A series' identity: its sorted labels, ``__name__`` and ``instance`` included."""


@dataclass(frozen=True)
class ScrapeReport:
    """One round of scrapes: when (Unix seconds), which targets answered, which failed why."""

    at: float
    scraped: tuple[str, ...]
    failed: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Stored:
    samples: list[tuple[float, float]]
    born_at: float | None


def compute_exposition_samples(text: str, *, instance: str) -> list[tuple[_Key, float]]:
    """Every sample of Prometheus text exposition ``text`` as ``(labels, value)``.

    Labels include ``__name__`` (the sample's name, e.g. ``model_requests_total``) and
    ``instance`` unless the exposition sets it. Raises ``ValueError`` on unparsable text.
    """
    out: list[tuple[_Key, float]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {"instance": instance, **sample.labels, "__name__": sample.name}
            out.append((tuple(sorted(labels.items())), float(sample.value)))
    return out


MAX_SCRAPE_BYTES = 16 * 1024 * 1024


class LocalProvider:
    """Scrapes model servers into memory and answers windows from what it scraped."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        client: httpx.Client | None = None,
        timeout_s: float = 5.0,
        clock: Clock | None = None,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.targets = tuple(_metrics_url(t) for t in targets)
        self.retention = retention
        self.timeout_s = timeout_s
        self._client = client or httpx.Client(
            transport=bounded_transport(), timeout=timeout_s, follow_redirects=False
        )
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._series: dict[_Key, _Stored] = {}
        self._seen_targets: set[str] = set()

    def set_targets(self, targets: Sequence[str]) -> None:
        """Scrape these targets from now on (the local platform's servers come and go);
        samples already scraped stay."""
        self.targets = tuple(_metrics_url(t) for t in targets)

    def close(self) -> None:
        """Release the connection pool (the scraped samples stay readable)."""
        self._client.close()

    def fetch_samples(self) -> ScrapeReport:
        """Scrape every target once now and store the samples; failures are reported."""
        scraped: list[str] = []
        failed: dict[str, str] = {}
        at = self._clock.now().timestamp()
        for target in self.targets:
            try:
                samples = self._scrape(target)
            except (httpx.HTTPError, ValueError) as exc:
                failed[target] = f"{type(exc).__name__}: {exc!s:.200}"
                continue
            self._store(target, samples, at=at)
            scraped.append(target)
        self._prune(at)
        return ScrapeReport(at=at, scraped=tuple(scraped), failed=failed)

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        """One window per consecutive pair of ``boundaries``, from the samples scraped so far."""
        return fetch_paired_windows(request, boundaries, self._answer)

    def _scrape(self, target: str) -> list[tuple[_Key, float]]:
        with (
            total_deadline(self.timeout_s),
            self._client.stream("GET", target) as response,
        ):
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_SCRAPE_BYTES:
                    raise ValueError(f"the exposition exceeds {MAX_SCRAPE_BYTES} bytes")
        text = bytes(body).decode("utf-8", "replace")
        return compute_exposition_samples(text, instance=urlsplit(target).netloc)

    def _store(self, target: str, samples: Iterable[tuple[_Key, float]], *, at: float) -> None:
        with self._lock:
            first_scrape = target not in self._seen_targets
            self._seen_targets.add(target)
            for key, value in samples:
                stored = self._series.get(key)
                if stored is None:
                    stored = self._series[key] = _Stored([], None if first_scrape else at)
                stored.samples.append((at, value))

    def _prune(self, now: float) -> None:
        cut = now - self.retention.total_seconds()
        with self._lock:
            for key, stored in list(self._series.items()):
                old = sum(1 for t, _ in stored.samples if t < cut)
                if old == len(stored.samples):
                    del self._series[key]
                elif old > 1:
                    del stored.samples[: old - 1]

    def _answer(self, ask: QueryAsk) -> list[VectorResult | None]:
        stamps = ask.stamps
        try:
            query = assess_local_query(ask.text)
            span = timedelta(milliseconds=max(1, round((stamps[-1] - stamps[0]) * 1000)))
            selector = assess_selector(render_query(query.selector, ask.context(window=span)))
        except SpecError as exc:
            raise ask.refusal(exc) from exc
        return self._evaluate(query, selector, stamps)

    def _evaluate(
        self, query: LocalQuery, selector: VectorSelector, stamps: list[float]
    ) -> list[VectorResult | None]:
        with self._lock:
            chosen = [
                (dict(key), stored.born_at, tuple(stored.samples))
                for key, stored in self._series.items()
                if selector.matches(dict(key))
            ]
        series = [Series(labels=labels, samples=samples) for labels, _, samples in chosen]
        groups = compute_group_increases(series, boundaries=stamps, group_by=query.group_by)
        if isinstance(query, CounterQuery):
            return list(groups)
        born = [(labels, at) for labels, at, samples in chosen if at is not None and samples[0][1]]
        return _distinct_counts(query, groups, born=born, stamps=stamps)


def _distinct_counts(
    query: DistinctQuery,
    groups: Sequence[Sequence[tuple[dict[str, str], float]] | None],
    *,
    born: Sequence[tuple[Mapping[str, str], float]],
    stamps: Sequence[float],
) -> list[VectorResult | None]:
    out: list[VectorResult | None] = []
    for index, (start, end) in enumerate(itertools.pairwise(stamps)):
        active = {tuple(labels.items()) for labels, value in groups[index] or () if value > 0}
        if query.born:
            active |= {
                tuple((name, labels.get(name, "")) for name in query.group_by)
                for labels, at in born
                if start < at <= end
            }
        out.append([({}, float(len(active)))] if active else None)
    return out


def _metrics_url(target: str) -> str:
    parts = urlsplit(target if "://" in target else f"http://{target}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"a scrape target must be an http(s) URL or host:port, not {target!r}")
    return parts._replace(path=parts.path or "/metrics").geturl()
