"""``WebProvider``: per-window measurements from a JSON model-evaluation service, through httpx.

Implements the ``provider.MetricProvider`` port for metrics whose ``provider.web`` names an
HTTP endpoint (``spec.template.WebQuery``): typically a labelling or evaluation service
that counts, per variant, the labelled examples and the misclassified ones over the last
``{{window}}``. Its neighbours are the same as the Prometheus provider's: ``measurements``
turns the numbers into analysis types, ``retry`` bounds the retries; HTTP goes through httpx
and every httpx failure is translated into ``mlrollout.errors`` here and nowhere else.

Requests. One request per variant and window, with placeholders filled for that variant;
each value is escaped for where it stands, so no value can change the request's shape:

- in ``url``: percent-encoded (``quote(value, safe="")``);
- in ``headers``: inserted as is; a value holding a control character is a ``SpecError``;
- in ``body``: escaped as the *content of a JSON string* (put the placeholder in quotes);
- in ``fields`` (JSON paths): only bare tokens ``[A-Za-z0-9_-]+``, e.g. ``$.{{variant}}.n``.

``{{selector}}`` is the variant's labels as a Kubernetes label selector (``env=green,a=b``),
``{{window}}`` a duration such as ``30s`` or ``1m30s``. When both variants render to the same
request, it is sent once; when requests *and* field paths are identical, the template
cannot tell the variants apart, which is a ``SpecError``.

Answers. ``fields`` maps each query name to a JSON path (``jsonpath``). A field must hold a
JSON number (``buckets`` of a latency metric may hold an object ``{le: cumulative count}``);
a missing field, a string, ``null``, ``true``, NaN or Inf make that variant's window *no
data*. HTTP 400, 404 and 422 are configuration errors (``QueryError`` naming the template
and metric); transport errors, timeouts, 429 and 5xx are retried with the injected sleep
and end as ``ProviderUnavailableError``; any other status or a non-JSON body is a
``ProviderError``.

Time. The service is asked about "the last ``{{window}}``", so only the latest window can be
answered, and only while it is fresh: the last window is fetched when its end lies within
``max_lag`` of the clock; earlier or stale windows are empty windows (no data, with the
reason), never another window's numbers.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from mlrollout.analysis.observations import Measurement, Window, WindowStatus
from mlrollout.clock import Clock, SystemClock
from mlrollout.deadline import bounded_transport, total_deadline
from mlrollout.errors import ProviderError, ProviderUnavailableError, QueryError, SpecError
from mlrollout.metrics.measurements import VectorResult, compute_measurement
from mlrollout.metrics.provider import MetricRequest, VariantScope
from mlrollout.metrics.query import LABEL_NAME, compute_promql_duration
from mlrollout.metrics.retry import PROVIDER_RETRY, RetryPolicy, compute_retrying
from mlrollout.redaction import summarise_body
from mlrollout.spec.template import MetricKind, WebQuery

__all__ = [
    "DEFAULT_MAX_LAG",
    "JsonPath",
    "RenderedRequest",
    "WebProvider",
    "assess_path",
    "compute_answer_measurement",
    "compute_web_request",
]

DEFAULT_MAX_LAG = timedelta(seconds=60)
"""How far the last window's end may lie from now for the service's answer to describe it."""

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_SEGMENT = re.compile(
    r"\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)|\[(?P<index>[0-9]+)\]"
    r"|\[\"(?P<dq>[^\"\\]*)\"\]|\['(?P<sq>[^'\\]*)'\]"
)
_CONFIG_STATUSES = (400, 404, 422)


@dataclass(frozen=True)
class JsonPath:
    """A parsed field path: object keys (``str``) and array indexes (``int``) from the root.

    The subset of JSONPath understood: ``$`` then any of ``.name`` (``[A-Za-z_][A-Za-z0-9_-]*``),
    ``[0]`` (an array index) and ``["any key"]`` or ``['any key']`` (no quotes or backslashes
    inside). No wildcards, slices, filters or recursive descent: one path, one value.
    """

    text: str
    steps: tuple[str | int, ...]

    def find(self, document: Any) -> Any:
        """The value at this path in ``document``, or ``None`` when any step is missing."""
        node = document
        for step in self.steps:
            by_index = isinstance(node, list) and isinstance(step, int) and step < len(node)
            if not (
                by_index or (isinstance(node, dict) and isinstance(step, str) and step in node)
            ):
                return None
            node = node[step]
        return node


def assess_path(text: str) -> JsonPath:
    """Parse ``text`` (``$.a.b[0]["c d"]``) into a ``JsonPath``; ``SpecError`` when malformed."""
    if not text.startswith("$"):
        raise SpecError(f"field path {text!r} must start with '$'", path="web.fields")
    steps: list[str | int] = []
    index = 1
    while index < len(text):
        match = _SEGMENT.match(text, index)
        if match is None:
            raise SpecError(
                f'field path {text!r}: cannot read {text[index:]!r} (use .name, [0] or ["key"])',
                path="web.fields",
            )
        index = match.end()
        if match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            steps.append(next(g for g in match.group("name", "dq", "sq") if g is not None))
    return JsonPath(text=text, steps=tuple(steps))


@dataclass(frozen=True)
class RenderedRequest:
    """One HTTP request to send: every placeholder filled and escaped for its place."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str | None


def compute_web_request(
    query: WebQuery, *, request: MetricRequest, scope: VariantScope, window: timedelta
) -> tuple[RenderedRequest, dict[str, JsonPath]]:
    """The request for ``scope`` and ``window``, and the parsed JSON path of each field."""
    values = _values(request, scope, window)
    headers = [(name, _render(text, values, _header_value)) for name, text in query.headers.items()]
    if query.body is not None and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/json"))
    rendered = RenderedRequest(
        method=query.method,
        url=_render(query.url, values, _url_value),
        headers=tuple(headers),
        body=None if query.body is None else _render(query.body, values, _json_value),
    )
    paths = {
        name: assess_path(_render(text, values, _token_value))
        for name, text in query.fields.items()
    }
    return rendered, paths


class WebProvider:
    """Canary and baseline measurements of the latest window from JSON web endpoints."""

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy = PROVIDER_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock | None = None,
        max_lag: timedelta = DEFAULT_MAX_LAG,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_lag = max_lag
        self._client = client or httpx.Client(
            transport=bounded_transport(), timeout=timeout_s, follow_redirects=False
        )
        self._retrying = compute_retrying(retry, sleep)
        self._clock: Clock = clock or SystemClock()

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        """Empty windows for all but a fresh last window, which is fetched; raises on failure."""
        pairs = list(itertools.pairwise(_check_boundaries(boundaries)))
        windows = [
            _unanswerable(end - start, "a web provider answers only the latest window")
            for start, end in pairs[:-1]
        ]
        start, end = pairs[-1]
        lag = abs(self._clock.now() - end)
        if lag > self.max_lag:
            reason = f"the window ended {lag.total_seconds():.0f}s from now (max {self.max_lag})"
            return [*windows, _unanswerable(end - start, reason)]
        return [*windows, self._fetch_window(request, window=end - start)]

    def _fetch_window(self, request: MetricRequest, *, window: timedelta) -> Window:
        query = _web_query(request)
        try:
            canary = compute_web_request(
                query, request=request, scope=request.canary, window=window
            )
            baseline = compute_web_request(
                query, request=request, scope=request.baseline, window=window
            )
        except SpecError as exc:
            raise _named(exc, request) from exc
        if canary == baseline:
            raise _named(SpecError(_SAME_REQUEST), request)
        answers = {canary[0]: self._send(canary[0], request)}
        if baseline[0] not in answers:
            answers[baseline[0]] = self._send(baseline[0], request)
        kind = request.metric.kind
        measured = [
            compute_answer_measurement(kind, answers[rendered], paths)
            for rendered, paths in (canary, baseline)
        ]
        if measured[0] is None or measured[1] is None:
            return Window.empty(window.total_seconds())
        return Window(
            duration_s=window.total_seconds(),
            canary=measured[0],
            baseline=measured[1],
            canary_weight=request.canary_weight,
        )

    def _send(self, rendered: RenderedRequest, request: MetricRequest) -> Any:
        for attempt in self._retrying:
            with attempt:
                return self._send_once(rendered, request)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _send_once(self, rendered: RenderedRequest, request: MetricRequest) -> Any:
        where = f"{_origin(request)} at {_redacted(rendered.url)}"
        try:
            with (
                total_deadline(self.timeout_s),
                self._client.stream(
                    rendered.method,
                    rendered.url,
                    headers=list(rendered.headers),
                    content=rendered.body,
                    timeout=self.timeout_s,
                ) as response,
            ):
                body = _read_capped(response, where)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailableError(
                f"web service timed out after {self.timeout_s:g}s ({where})"
            ) from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailableError(
                f"web service is unreachable ({where}): {exc!s:.200}"
            ) from exc
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise ProviderError(f"web request cannot be sent ({where}): {exc!s:.200}") from exc
        _check_status(response, body, request=request, where=where)
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ProviderError(
                f"web service answered something other than JSON ({where})"
            ) from exc


def compute_answer_measurement(
    kind: MetricKind, answer: Any, paths: Mapping[str, JsonPath]
) -> Measurement | None:
    """The measurement of ``kind`` from a JSON ``answer``; ``None`` when any field is unusable."""
    results: dict[str, VectorResult | None] = {}
    for name, path in paths.items():
        found = path.find(answer)
        result = _bucket_result(found) if name == "buckets" else _number_result(found)
        if result is None:
            return None
        results[name] = result
    return compute_measurement(kind, results)


def _number_result(found: Any) -> VectorResult | None:
    if isinstance(found, bool) or not isinstance(found, int | float):
        return None
    try:
        return [({}, float(found))]
    except OverflowError:  # an integer beyond float range: not a usable number
        return None


MAX_RESPONSE_BYTES = 4 * 1024 * 1024


def _read_capped(response: httpx.Response, where: str) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise ProviderError(
                f"web service answered more than {MAX_RESPONSE_BYTES} bytes ({where})"
            )
    return bytes(body)


def _bucket_result(found: Any) -> VectorResult | None:
    if not isinstance(found, dict) or not found:
        return None
    out: list[tuple[Mapping[str, str], float]] = []
    for bound, count in found.items():
        number = _number_result(count)
        if number is None:
            return None
        out.append(({"le": bound}, number[0][1]))
    return out


def _check_status(
    response: httpx.Response, body: bytes, *, request: MetricRequest, where: str
) -> None:
    status = response.status_code
    if status < 300:
        return
    detail = summarise_body(body) or response.reason_phrase
    if status in _CONFIG_STATUSES:
        raise QueryError(
            f"{_origin(request)}: the web service refused the request (HTTP {status}: {detail})",
            source=f"AnalysisTemplate/{request.template}",
            path=f"{request.metric.name}.provider.web",
        )
    message = f"web service answered HTTP {status}: {detail} ({where})"
    if status >= 500 or status == 429:
        raise ProviderUnavailableError(message)
    raise ProviderError(message)


_SAME_REQUEST = (
    "canary and baseline render to the same request and the same fields: use {{variant}} "
    "or {{selector}} in the url, headers, body or field paths"
)


def _web_query(request: MetricRequest) -> WebQuery:
    web = request.metric.provider.web
    if web is None:
        raise SpecError(
            f"metric {request.metric.name!r} has no web provider",
            source=f"AnalysisTemplate/{request.template}",
        )
    return web


def _values(request: MetricRequest, scope: VariantScope, window: timedelta) -> dict[str, str]:
    if not scope.labels or not all(LABEL_NAME.fullmatch(name) for name in scope.labels):
        raise SpecError(f"invalid variant selector {dict(scope.labels)!r}", path="selector")
    values = {
        "selector": ",".join(f"{name}={value}" for name, value in scope.labels.items()),
        "window": compute_promql_duration(window),
        "namespace": request.namespace,
        "service": request.service,
        "variant": scope.name,
    }
    values.update({f"args.{name}": value for name, value in request.args.items()})
    return values


def _render(text: str, values: Mapping[str, str], escape: Callable[[str, str], str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise SpecError(f"no value for placeholder {{{{{name}}}}}", path="web")
        return escape(name, values[name])

    return _PLACEHOLDER.sub(one, text)


def _url_value(name: str, value: str) -> str:
    return quote(value, safe="")


def _json_value(name: str, value: str) -> str:
    return json.dumps(value)[1:-1]


def _header_value(name: str, value: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise SpecError(f"{{{{{name}}}}}: a header value cannot hold control characters")
    return value


def _token_value(name: str, value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise SpecError(f"{{{{{name}}}}} = {value!r} in a field path must match [A-Za-z0-9_-]+")
    return value


def _named(exc: SpecError, request: MetricRequest) -> SpecError:
    if exc.source is not None:
        return exc
    return SpecError(
        f"{_origin(request)}: {exc.reason}",
        source=f"AnalysisTemplate/{request.template}",
        path=f"{request.metric.name}.provider.web",
    )


def _origin(request: MetricRequest) -> str:
    return f"template {request.template!r}, metric {request.metric.name!r}"


def _redacted(url: str) -> str:
    """The URL without its query string, which may carry credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _unanswerable(duration: timedelta, reason: str) -> Window:
    return Window(duration_s=duration.total_seconds(), status=WindowStatus.EMPTY, error=reason)


def _check_boundaries(boundaries: Sequence[datetime]) -> list[datetime]:
    if len(boundaries) < 2:
        raise ValueError("need at least two boundaries (one window)")
    if any(b.tzinfo is None for b in boundaries):
        raise ValueError("boundaries must be timezone-aware datetimes")
    if any(later <= earlier for earlier, later in itertools.pairwise(boundaries)):
        raise ValueError("boundaries must increase strictly")
    return list(boundaries)
