"""The web provider against respx-mocked evaluation services.

Counts per variant from JSON field paths; placeholders escaped for URL, body, headers and
field paths; missing, non-numeric, NaN and Inf fields are no data; 400/404/422 are
configuration errors naming the template and metric; transport errors, timeouts, 429 and
5xx are retried with an injected sleep (nothing waits) and then ProviderUnavailableError;
only a fresh latest window is ever fetched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from mlrollout.analysis.observations import EventCounts, Histogram, WindowStatus
from mlrollout.errors import ProviderError, ProviderUnavailableError, QueryError, SpecError
from mlrollout.metrics import MetricRequest, VariantScope, WebProvider, record_windows
from mlrollout.metrics.web import JsonPath, assess_path
from mlrollout.retry import RetryPolicy
from mlrollout.spec.template import MetricSpec

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = [NOW - timedelta(minutes=1), NOW]
EVAL = "https://eval.example/api/v1/accuracy"


class FakeClock:
    """A clock stopped at ``NOW``."""

    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        raise AssertionError("the provider must sleep through its injected sleep only")


class Sleeps(list[float]):
    """An injected sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _metric(web: dict[str, Any], kind: str = "accuracy") -> MetricSpec:
    return MetricSpec.model_validate({"name": "labelled", "kind": kind, "provider": {"web": web}})


ACCURACY = _metric(
    {
        "url": EVAL + "?variant={{variant}}&window={{window}}&sel={{selector}}",
        "headers": {"X-Team": "{{args.team}}"},
        "fields": {"events": "$.counts.misclassified", "total": "$.counts.labelled"},
    }
)


def _request(metric: MetricSpec = ACCURACY, **extra: Any) -> MetricRequest:
    return MetricRequest(
        template="model-eval",
        metric=metric,
        canary=VariantScope(extra.pop("canary", "green"), {"environment": "green"}),
        baseline=VariantScope("blue", {"environment": "blue"}),
        namespace="ml-prod",
        args=extra.pop("args", {"team": "fraud"}),
        canary_weight=0.05,
        **extra,
    )


def _provider(sleeps: Sleeps | None = None) -> WebProvider:
    return WebProvider(
        sleep=sleeps if sleeps is not None else Sleeps(),
        clock=FakeClock(),
        retry=RetryPolicy(attempts=3, initial_s=0.5, max_s=4.0),
        timeout_s=2.0,
    )


def _counts(misclassified: Any, labelled: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"counts": {"misclassified": misclassified, "labelled": labelled}}
    )


@respx.mock
def test_counts_per_variant_from_field_paths() -> None:
    green = respx.get(EVAL, params={"variant": "green"}).mock(return_value=_counts(7, 400))
    blue = respx.get(EVAL, params={"variant": "blue"}).mock(return_value=_counts(60, 7600))
    [window] = _provider().fetch_windows(_request(), boundaries=WINDOW)
    assert window.status is WindowStatus.OK
    assert window.canary == EventCounts(events=7, exposure=400)
    assert window.baseline == EventCounts(events=60, exposure=7600)
    assert (window.duration_s, window.canary_weight) == (60.0, 0.05)
    sent = green.calls.last.request
    assert sent.url.params["window"] == "1m"
    assert sent.url.params["sel"] == "environment=green"
    assert sent.headers["X-Team"] == "fraud"
    assert blue.call_count == 1


@respx.mock
def test_one_answer_serves_both_variants_when_only_field_paths_differ() -> None:
    metric = _metric(
        {"url": EVAL, "fields": {"events": "$.{{variant}}.wrong", "total": "$['{{variant}}'].n"}}
    )
    route = respx.get(EVAL).mock(
        return_value=httpx.Response(
            200, json={"green": {"wrong": 3, "n": 90}, "blue": {"wrong": 11, "n": 1710}}
        )
    )
    [window] = _provider().fetch_windows(_request(metric), boundaries=WINDOW)
    assert (window.canary, window.baseline) == (EventCounts(3, 90), EventCounts(11, 1710))
    assert route.call_count == 1


@respx.mock
def test_post_body_gets_json_escaped_values_and_a_content_type() -> None:
    metric = _metric(
        {
            "url": EVAL,
            "method": "POST",
            "body": '{"variant": "{{variant}}", "team": "{{args.team}}", "ns": "{{namespace}}"}',
            "fields": {"events": "$.wrong", "total": "$.n"},
        }
    )
    route = respx.post(EVAL).mock(return_value=httpx.Response(200, json={"wrong": 1, "n": 10}))
    hostile = 'x", "variant": "blue'
    _provider().fetch_windows(_request(metric, args={"team": hostile}), boundaries=WINDOW)
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies[0] == {"variant": "green", "team": hostile, "ns": "ml-prod"}
    assert {b["variant"] for b in bodies} == {"green", "blue"}
    assert route.calls.last.request.headers["Content-Type"] == "application/json"


@respx.mock
def test_hostile_values_are_percent_encoded_in_the_url() -> None:
    route = respx.get(url__startswith=EVAL).mock(return_value=_counts(0, 1))
    hostile = "a&variant=blue#/../x y"
    _provider().fetch_windows(_request(canary=hostile), boundaries=WINDOW)
    first = route.calls[0].request.url
    assert first.params.get_list("variant") == [hostile]
    assert first.path == "/api/v1/accuracy"
    assert "%26variant%3Dblue%23%2F..%2Fx%20y" in str(first)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        pytest.param({"args": {"team": "a\r\nX-Evil: 1"}}, "control characters", id="header-crlf"),
        pytest.param({"canary": "green.evil"}, r"must match \[A-Za-z0-9_-\]\+", id="path-dot"),
    ],
)
def test_values_that_would_change_headers_or_paths_are_refused(
    extra: dict[str, Any], match: str
) -> None:
    metric = _metric(
        {
            "url": EVAL + "?v={{variant}}",
            "headers": {"X-Team": "{{args.team}}"},
            "fields": {"events": "$.{{variant}}.wrong", "total": "$.n"},
        }
    )
    with respx.mock(assert_all_called=False), pytest.raises(SpecError, match=match) as caught:
        _provider().fetch_windows(_request(metric, **extra), boundaries=WINDOW)
    assert caught.value.source == "AnalysisTemplate/model-eval"
    assert caught.value.path == "labelled.provider.web"


def test_requests_that_cannot_tell_the_variants_apart_are_a_spec_error() -> None:
    metric = _metric({"url": EVAL, "fields": {"events": "$.wrong", "total": "$.n"}})
    with pytest.raises(SpecError, match="same request"):
        _provider().fetch_windows(_request(metric), boundaries=WINDOW)


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        pytest.param("$", (), id="root"),
        pytest.param("$.a.b_c-d", ("a", "b_c-d"), id="names"),
        pytest.param("$.rows[0].n", ("rows", 0, "n"), id="index"),
        pytest.param("$[\"a.b c\"]['x']", ("a.b c", "x"), id="quoted"),
    ],
)
def test_field_paths_parse(text: str, steps: tuple[str | int, ...]) -> None:
    assert assess_path(text) == JsonPath(text=text, steps=steps)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a.b", id="no-root"),
        pytest.param("$..a", id="recursive"),
        pytest.param("$.a[*]", id="wildcard"),
        pytest.param("$.a[-1]", id="negative"),
        pytest.param("$.a[?(@.x)]", id="filter"),
        pytest.param('$["a\\"b"]', id="escaped-quote"),
    ],
)
def test_malformed_field_paths_are_spec_errors(text: str) -> None:
    with pytest.raises(SpecError, match="field path"):
        assess_path(text)


@pytest.mark.parametrize(
    ("document", "path", "expected"),
    [
        pytest.param({"a": [{"b": 3}]}, "$.a[0].b", 3, id="found"),
        pytest.param({"a": [{"b": 3}]}, "$.a[1].b", None, id="index-out-of-range"),
        pytest.param({"a": {"0": 5}}, "$.a[0]", None, id="index-into-object"),
        pytest.param({"a": [1]}, "$.a.b", None, id="name-into-array"),
    ],
)
def test_field_paths_find_values(document: Any, path: str, expected: Any) -> None:
    assert assess_path(path).find(document) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"counts": {"misclassified": 3}}', id="missing-total"),
        pytest.param('{"counts": {"labelled": 100}}', id="missing-events"),
        pytest.param('{"counts": {"misclassified": "3", "labelled": 100}}', id="string"),
        pytest.param('{"counts": {"misclassified": null, "labelled": 100}}', id="null"),
        pytest.param('{"counts": {"misclassified": true, "labelled": 100}}', id="bool"),
        pytest.param('{"counts": {"misclassified": NaN, "labelled": 100}}', id="nan"),
        pytest.param('{"counts": {"misclassified": 1, "labelled": Infinity}}', id="inf"),
        pytest.param('{"counts": [1, 2]}', id="wrong-shape"),
    ],
)
@respx.mock
def test_unusable_fields_are_no_data_never_a_number(body: str) -> None:
    respx.get(url__startswith=EVAL).mock(return_value=httpx.Response(200, text=body))
    [window] = _provider().fetch_windows(_request(), boundaries=WINDOW)
    assert window.status is WindowStatus.EMPTY
    assert (window.canary, window.baseline, window.usable) == (None, None, False)


@pytest.mark.parametrize("status", [400, 404, 422])
@respx.mock
def test_refused_requests_are_configuration_errors_naming_template_and_metric(
    status: int,
) -> None:
    route = respx.get(url__startswith=EVAL).mock(
        return_value=httpx.Response(status, text="unknown model")
    )
    sleeps = Sleeps()
    with pytest.raises(QueryError) as caught:
        record_windows(_provider(sleeps), _request(), boundaries=WINDOW)
    message = str(caught.value)
    assert message.startswith("AnalysisTemplate/model-eval: labelled.provider.web: ")
    assert "template 'model-eval', metric 'labelled'" in message
    assert f"HTTP {status}: unknown model" in message
    assert (route.call_count, sleeps) == (1, [])


def _transport_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("read timed out", request=request)


@pytest.mark.parametrize(
    ("side_effect", "reason"),
    [
        pytest.param(httpx.Response(503, text="busy"), "HTTP 503: busy", id="503"),
        pytest.param(httpx.Response(500), "HTTP 500", id="500"),
        pytest.param(httpx.Response(429), "HTTP 429", id="429"),
        pytest.param(_transport_error, "unreachable", id="refused"),
        pytest.param(_timeout, "timed out after 2s", id="timeout"),
    ],
)
@respx.mock
def test_outages_are_retried_then_unavailable_and_recorded_as_errored(
    side_effect: Any, reason: str
) -> None:
    route = respx.get(url__startswith=EVAL)
    if isinstance(side_effect, httpx.Response):
        route.mock(return_value=side_effect)
    else:
        route.mock(side_effect=side_effect)
    sleeps = Sleeps()
    with pytest.raises(ProviderUnavailableError, match=reason) as caught:
        _provider(sleeps).fetch_windows(_request(), boundaries=WINDOW)
    assert "?" not in str(caught.value), "query strings may hold credentials"
    assert (route.call_count, sleeps) == (3, [0.5, 1.0])
    [window] = record_windows(_provider(), _request(), boundaries=WINDOW)
    assert window.status is WindowStatus.ERRORED
    assert (window.error or "").startswith("ProviderUnavailableError: ")


@respx.mock
def test_a_transient_failure_then_success_gives_the_numbers() -> None:
    respx.get(EVAL, params={"variant": "green"}).mock(
        side_effect=[httpx.Response(502), _counts(2, 50)]
    )
    respx.get(EVAL, params={"variant": "blue"}).mock(return_value=_counts(4, 950))
    sleeps = Sleeps()
    [window] = _provider(sleeps).fetch_windows(_request(), boundaries=WINDOW)
    assert window.canary == EventCounts(2, 50)
    assert sleeps == [0.5]


@pytest.mark.parametrize(
    ("response", "match"),
    [
        pytest.param(httpx.Response(401), "HTTP 401", id="unauthorised"),
        pytest.param(httpx.Response(302, headers={"Location": "/x"}), "HTTP 302", id="redirect"),
        pytest.param(httpx.Response(200, text="<html>"), "other than JSON", id="html"),
    ],
)
@respx.mock
def test_unusable_answers_are_provider_errors_without_retry(
    response: httpx.Response, match: str
) -> None:
    route = respx.get(url__startswith=EVAL).mock(return_value=response)
    with pytest.raises(ProviderError, match=match) as caught:
        _provider().fetch_windows(_request(), boundaries=WINDOW)
    assert not isinstance(caught.value, ProviderUnavailableError)
    assert route.call_count == 1


@respx.mock
def test_only_the_latest_fresh_window_is_fetched() -> None:
    route = respx.get(url__startswith=EVAL).mock(return_value=_counts(1, 10))
    provider = _provider()
    early, late = provider.fetch_windows(
        _request(), boundaries=[NOW - timedelta(minutes=2), *WINDOW]
    )
    assert early.status is WindowStatus.EMPTY
    assert "only the latest window" in (early.error or "")
    assert late.canary == EventCounts(1, 10)
    assert route.call_count == 2
    [stale] = provider.fetch_windows(
        _request(), boundaries=[NOW - timedelta(minutes=5), NOW - timedelta(minutes=4)]
    )
    assert stale.status is WindowStatus.EMPTY
    assert "ended 240s from now" in (stale.error or "")
    assert route.call_count == 2


@respx.mock
def test_latency_buckets_from_an_object_of_cumulative_counts() -> None:
    metric = _metric(
        {
            "url": EVAL + "/latency?variant={{variant}}",
            "fields": {"buckets": "$.buckets", "sum": "$.sum_s"},
        },
        kind="latency-tail",
    )
    answer = {"buckets": {"0.1": 80, "0.2": 95, "+Inf": 100}, "sum_s": 9.5}
    respx.get(url__startswith=EVAL).mock(return_value=httpx.Response(200, json=answer))
    [window] = _provider().fetch_windows(_request(metric), boundaries=WINDOW)
    assert window.canary == Histogram(
        bounds=(0.1, 0.2), counts=(80, 95), total_sum=9.5, total_count=100
    )
