"""The Prometheus provider against a real Prometheus holding backfilled, known history.

History (OpenMetrics via promtool) has per-15s increments drawn from a seeded RNG for two
pods of the canary (``green``, one of which restarts: a counter reset), one pod of the
baseline (``blue``) and a variant whose label value is hostile PromQL. The expected
per-window counts are sums of those increments, computed here independently of the
provider's maths. Also: bad PromQL is a QueryError naming the template, and a Prometheus
stopped mid-analysis gives errored windows, not an exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlrollout.analysis.observations import EventCounts, Histogram, WindowStatus
from mlrollout.errors import QueryError
from mlrollout.metrics import MetricRequest, PrometheusProvider, VariantScope, record_windows
from mlrollout.metrics.promapi import PromApi
from mlrollout.metrics.settings import PrometheusSettings
from mlrollout.spec.template import MetricSpec
from support.prometheus import (
    PrometheusServer,
    backfill_openmetrics,
    compose_openmetrics,
    require_prometheus,
    start_prometheus,
)

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parents[2]
STEP = 15
STEPS = 80
HOSTILE = '"} or vector(1) #\nx\\'
BOUNDS = ("0.05", "0.1", "+Inf")
PODS = {("green", "g-a"): 40, ("green", "g-b"): None, ("blue", "b-a"): None, (HOSTILE, "h"): None}
"""(environment, pod) -> index of the sample at which that pod's counters reset."""


@dataclass
class History:
    """Backfilled increments: (environment, pod, series) -> per-step increments."""

    start: int
    increments: dict[tuple[str, str, str], list[int]]

    def stamp(self, index: int) -> int:
        return self.start + index * STEP

    def expected(self, environment: str, series: str, lo: int, hi: int) -> int:
        """Sum of increments of samples in (lo, hi] over that environment's pods."""
        return sum(
            incs[i]
            for (env, _, name), incs in self.increments.items()
            if env == environment and name == series
            for i in range(STEPS)
            if lo < self.stamp(i) <= hi
        )


def _build_history() -> tuple[History, str]:
    rng = np.random.default_rng(2024)
    start = (int(time.time()) // 3600 - 2) * 3600
    increments: dict[tuple[str, str, str], list[int]] = {}
    samples: dict = {}
    for (env, pod), reset in PODS.items():
        ok = rng.integers(0, 20, STEPS)
        err = rng.integers(0, 3, STEPS)
        fast = rng.integers(0, 10, STEPS)
        slow = rng.integers(0, 5, STEPS)
        series = {
            ("model_requests_total", (("status", "200"),)): ok,
            ("model_requests_total", (("status", "500"),)): err,
            ("model_request_duration_seconds_bucket", (("le", "0.05"),)): fast,
            ("model_request_duration_seconds_bucket", (("le", "0.1"),)): fast + slow,
            ("model_request_duration_seconds_bucket", (("le", "+Inf"),)): ok + err,
        }
        for (name, extra), incs in series.items():
            incs = [0, *[int(v) for v in incs[1:]]]
            key = extra[0][1]
            increments[(env, pod, f"{name}:{key}")] = incs
            values, value = [], 0
            for index, inc in enumerate(incs):
                value = inc if index == reset else value + inc
                values.append((start + index * STEP, float(value)))
            labels = (("environment", env), *extra, ("pod", pod))
            samples[(name, labels)] = values
    return History(start, increments), compose_openmetrics(samples)


@pytest.fixture(scope="module")
def backfilled(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[History, PrometheusServer]]:
    require_prometheus()
    history, text = _build_history()
    directory = tmp_path_factory.mktemp("prometheus")
    backfill_openmetrics(text, directory / "data")
    server = start_prometheus(directory)
    yield history, server
    server.stop()


def _template_metric(template: str, metric: str) -> MetricSpec:
    document = yaml.safe_load((ROOT / "analyses" / f"{template}.yaml").read_text())
    [found] = [m for m in document["spec"]["metrics"] if m["name"] == metric]
    return MetricSpec.model_validate(found)


def _provider(url: str) -> PrometheusProvider:
    return PrometheusProvider(PromApi(PrometheusSettings(url=url), sleep=lambda _: None))


def _request(metric: MetricSpec, template: str, canary: str = "green") -> MetricRequest:
    return MetricRequest(
        template=template,
        metric=metric,
        canary=VariantScope(canary, {"environment": canary}),
        baseline=VariantScope("blue", {"environment": "blue"}),
    )


def _boundaries(history: History, steps: list[int]) -> list[int]:
    return [history.stamp(0) + s for s in steps]


def _dates(stamps: list[int]) -> list[datetime]:
    return [datetime.fromtimestamp(s, UTC) for s in stamps]


# Windows of 60 s and 97 s, one spanning the reset at sample 40 (t = 600 s), boundaries both
# on and off sample times.
STEPS_S = [120, 180, 240, 577, 674, 735, 1000]


def test_error_counts_are_exact_per_variant_and_window_across_a_reset(backfilled) -> None:
    history, server = backfilled
    stamps = _boundaries(history, STEPS_S)
    provider = _provider(server.url)
    windows = provider.fetch_windows(
        _request(_template_metric("errors", "error-rate"), "errors"), boundaries=_dates(stamps)
    )
    for window, lo, hi in zip(windows, stamps, stamps[1:], strict=False):

        def counts(env: str, lo: int = lo, hi: int = hi) -> EventCounts:
            errors = history.expected(env, "model_requests_total:500", lo, hi)
            total = errors + history.expected(env, "model_requests_total:200", lo, hi)
            return EventCounts(events=errors, exposure=total)

        assert window.status is WindowStatus.OK
        assert (window.canary, window.baseline) == (counts("green"), counts("blue")), (lo, hi)
    provider.close()


def test_histogram_buckets_are_exact(backfilled) -> None:
    history, server = backfilled
    stamps = _boundaries(history, [500, 700])
    provider = _provider(server.url)
    [window] = provider.fetch_windows(
        _request(_template_metric("latency", "latency-p99"), "latency"), boundaries=_dates(stamps)
    )
    key = "model_request_duration_seconds_bucket:"
    for measured, env in ((window.canary, "green"), (window.baseline, "blue")):
        assert isinstance(measured, Histogram)
        assert measured.bounds == (0.05, 0.1)
        assert measured.counts == tuple(
            history.expected(env, key + le, *stamps) for le in BOUNDS[:2]
        )
        assert measured.total_count == history.expected(env, key + "+Inf", *stamps)
    provider.close()


def test_hostile_label_value_is_matched_literally(backfilled) -> None:
    history, server = backfilled
    stamps = _boundaries(history, [300, 400])
    provider = _provider(server.url)
    [window] = provider.fetch_windows(
        _request(_template_metric("errors", "error-rate"), "errors", canary=HOSTILE),
        boundaries=_dates(stamps),
    )
    errors = history.expected(HOSTILE, "model_requests_total:500", *stamps)
    total = errors + history.expected(HOSTILE, "model_requests_total:200", *stamps)
    assert window.canary == EventCounts(events=errors, exposure=total)
    provider.close()


def test_bad_promql_is_a_query_error_naming_the_template(backfilled) -> None:
    history, server = backfilled
    metric = MetricSpec.model_validate(
        {
            "name": "broken",
            "kind": "threshold",
            "range": {"max": 1},
            "provider": {"prometheus": {"queries": {"value": "max(gpu{ {{selector}} }"}}},
        }
    )
    provider = _provider(server.url)
    with pytest.raises(QueryError, match=r"AnalysisTemplate/my-template.*metric 'broken'"):
        record_windows(
            provider,
            _request(metric, "my-template"),
            boundaries=_dates(_boundaries(history, [0, 60])),
        )
    provider.close()


def test_prometheus_stopped_mid_analysis_gives_errored_windows(
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    history, text = _build_history()
    server = prometheus_factory(history=text)
    provider = _provider(server.url)
    request = _request(_template_metric("errors", "error-rate"), "errors")
    first = record_windows(provider, request, boundaries=_dates(_boundaries(history, [60, 120])))
    assert first[0].status is WindowStatus.OK
    server.stop()
    later = record_windows(provider, request, boundaries=_dates(_boundaries(history, [120, 180])))
    assert later[0].status is WindowStatus.ERRORED
    assert "ProviderUnavailableError" in (later[0].error or "")
    assert "unreachable" in (later[0].error or "")
    provider.close()
