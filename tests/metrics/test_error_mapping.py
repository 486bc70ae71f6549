"""HTTP error mapping of the Prometheus provider against a canned loopback Prometheus API.

400/422 are configuration errors (QueryError naming template, metric and query); 5xx,
timeouts and refused connections are retried (with an injected sleep: nothing waits) and
then ProviderUnavailableError; NaN, Inf and empty answers are no data, never numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlrollout.analysis.observations import EventCounts, ScalarValue, WindowStatus
from mlrollout.errors import ProviderError, ProviderUnavailableError, QueryError
from mlrollout.metrics import MetricRequest, PrometheusProvider, VariantScope, record_windows
from mlrollout.metrics.promapi import PromApi
from mlrollout.metrics.settings import PrometheusSettings
from mlrollout.retry import RetryPolicy
from mlrollout.spec.template import MetricSpec
from support.prometheus import free_port

from .canned import Answer, canned_prometheus, error, matrix, vector

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
ONE_WINDOW = [T0, T0 + timedelta(seconds=30)]


def _metric(kind: str, queries: dict[str, str], **extra: object) -> MetricSpec:
    return MetricSpec.model_validate(
        {"name": "m", "kind": kind, "provider": {"prometheus": {"queries": queries}}, **extra}
    )


THRESHOLD = _metric("threshold", {"value": "max(gpu{ {{selector}} })"}, range={"max": 1.0})
ERRORS = _metric(
    "errors",
    {
        "events": 'sum(increase(req_total{ {{selector}}, status="500" }[{{window}}]))',
        "total": "sum(increase(req_total{ {{selector}} }[{{window}}]))",
    },
)


def _request(metric: MetricSpec) -> MetricRequest:
    return MetricRequest(
        template="tpl",
        metric=metric,
        canary=VariantScope("green", {"environment": "green"}),
        baseline=VariantScope("blue", {"environment": "blue"}),
    )


class _Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _provider(url: str, sleeps: _Sleeps, *, timeout_s: float = 2.0) -> PrometheusProvider:
    api = PromApi(
        PrometheusSettings(url=url, timeout_s=timeout_s), retry=RetryPolicy(), sleep=sleeps
    )
    return PrometheusProvider(api)


@pytest.mark.parametrize("status", [400, 422])
def test_bad_query_is_a_query_error_naming_template_metric_and_query(status: int) -> None:
    sleeps = _Sleeps()
    with canned_prometheus(Answer(status, error("bad_data", "parse error at char 5"))) as prom:
        provider = _provider(prom.url, sleeps)
        with pytest.raises(QueryError) as caught:
            record_windows(provider, _request(THRESHOLD), boundaries=ONE_WINDOW)
    message = str(caught.value)
    assert "AnalysisTemplate/tpl" in message
    assert "metric 'm'" in message
    assert "query 'value'" in message
    assert "parse error at char 5" in message
    assert 'max(gpu{ environment="green" })' in message
    assert len(prom.queries) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_transient_status_is_retried_then_succeeds(status: int) -> None:
    sleeps = _Sleeps()
    answers = [
        Answer(status, error("timeout", "query timed out")),
        Answer(200, vector(({}, "0.5"))),
    ]
    with canned_prometheus(*answers, Answer(200, vector(({}, "0.7")))) as prom:
        windows = _provider(prom.url, sleeps).fetch_windows(
            _request(THRESHOLD), boundaries=ONE_WINDOW
        )
    assert windows[0].canary == ScalarValue(0.5)
    assert windows[0].baseline == ScalarValue(0.7)
    assert sleeps == [0.5]


def test_persistent_5xx_gives_up_after_three_attempts() -> None:
    sleeps = _Sleeps()
    with canned_prometheus(*[Answer(503, error("unavailable", "down"))] * 3) as prom:
        provider = _provider(prom.url, sleeps)
        with pytest.raises(ProviderUnavailableError, match="HTTP 503"):
            provider.fetch_windows(_request(THRESHOLD), boundaries=ONE_WINDOW)
    assert len(prom.queries) == 3
    assert sleeps == [0.5, 1.0]


def test_timeout_is_transient() -> None:
    sleeps = _Sleeps()
    with canned_prometheus(*[Answer(200, vector(({}, "1")), delay_s=0.5)] * 3) as prom:
        provider = _provider(prom.url, sleeps, timeout_s=0.1)
        with pytest.raises(ProviderUnavailableError, match=r"unreachable.*timed out after 0\.1s"):
            provider.fetch_windows(_request(THRESHOLD), boundaries=ONE_WINDOW)
    assert len(sleeps) == 2


def test_outage_is_recorded_as_errored_windows_not_raised() -> None:
    sleeps = _Sleeps()
    provider = _provider(f"http://127.0.0.1:{free_port()}", sleeps)
    boundaries = [*ONE_WINDOW, ONE_WINDOW[-1] + timedelta(seconds=30)]
    windows = record_windows(provider, _request(THRESHOLD), boundaries=boundaries)
    assert [w.status for w in windows] == [WindowStatus.ERRORED] * 2
    assert all("ProviderUnavailableError" in (w.error or "") for w in windows)
    assert "unreachable" in (windows[0].error or "")
    assert windows[0].duration_s == 30
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_other_refusals_are_provider_errors_not_retried(status: int) -> None:
    sleeps = _Sleeps()
    with canned_prometheus(Answer(status, {"error": "no"})) as prom:
        provider = _provider(prom.url, sleeps)
        with pytest.raises(ProviderError) as caught:
            provider.fetch_windows(_request(THRESHOLD), boundaries=ONE_WINDOW)
    assert not isinstance(caught.value, ProviderUnavailableError)
    assert sleeps == []


def test_unreadable_answer_is_a_provider_error() -> None:
    with canned_prometheus(Answer(200, {"status": "success"})) as prom:
        provider = _provider(prom.url, _Sleeps())
        with pytest.raises(ProviderError, match="unusable answer"):
            provider.fetch_windows(_request(THRESHOLD), boundaries=ONE_WINDOW)


@pytest.mark.parametrize(
    "canary",
    [
        pytest.param(vector(), id="empty"),
        pytest.param(vector(({}, "NaN")), id="nan"),
        pytest.param(vector(({}, "+Inf")), id="inf"),
        pytest.param(vector(({}, "-Inf")), id="minus-inf"),
    ],
)
def test_empty_nan_inf_are_no_data(canary: dict) -> None:
    with canned_prometheus(Answer(200, canary), Answer(200, vector(({}, "0.2")))) as prom:
        windows = _provider(prom.url, _Sleeps()).fetch_windows(
            _request(THRESHOLD), boundaries=ONE_WINDOW
        )
    assert windows[0].status is WindowStatus.EMPTY
    assert not windows[0].usable


def test_counter_queries_fetch_raw_samples_and_count_exactly() -> None:
    t0 = T0.timestamp()
    total_green = matrix(
        ({"environment": "green", "status": "200"}, [(t0 - 5, "10"), (t0 + 30, "25")])
    )
    errors_green = matrix(
        ({"environment": "green", "status": "500"}, [(t0 - 5, "1"), (t0 + 30, "3")])
    )
    total_blue = matrix(
        ({"environment": "blue", "status": "200"}, [(t0 - 5, "100"), (t0 + 30, "7")])
    )
    answers = [Answer(200, b) for b in (errors_green, total_green, matrix(), total_blue)]
    with canned_prometheus(*answers) as prom:
        provider = _provider(prom.url, _Sleeps())
        [window] = provider.fetch_windows(_request(ERRORS), boundaries=ONE_WINDOW)
    assert window.canary == EventCounts(events=2.0, exposure=15.0)
    assert window.baseline == EventCounts(events=0.0, exposure=7.0)
    assert prom.queries[0]["query"] == 'req_total{ environment="green", status="500" }[5m30s]'
    assert float(prom.queries[0]["time"]) == ONE_WINDOW[-1].timestamp()
