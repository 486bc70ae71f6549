"""The HTTP boundary to Prometheus: queries through prometheus-api-client, errors translated once.

Part of the ``metrics`` layer, below ``prometheus`` (the provider) and above the library.
``PromApi`` sends instant queries with ``PrometheusConnect.custom_query`` and returns plain
Python values (``(labels, value)`` per series, or raw samples as ``increase.Series``).
Every library failure becomes an ``mlrollout.errors`` class here and nowhere else:

- refused/reset connections, timeouts, HTTP 5xx (503 is Prometheus' query timeout) and 429
  -> ``ProviderUnavailableError`` (transient: retried by ``retry.PROVIDER_RETRY``);
- HTTP 400 (bad_data) and 422 (execution error) -> ``QueryError`` naming the template,
  metric, query name and query text, with Prometheus' own error message;
- anything else (401/403, 404, an unreadable answer) -> ``ProviderError``.

The library's own urllib3 retry (1 s back-off) is switched off so the injected sleep is
the only one. ``bounded_http.BoundedAdapter`` makes the timeout a *total* deadline per request
and caps the answer at ``MAX_RESPONSE_BYTES``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from mlrollout.errors import (
    MlrolloutError,
    ProviderError,
    ProviderUnavailableError,
    QueryError,
)
from mlrollout.metrics.bounded_http import BoundedAdapter
from mlrollout.metrics.increase import Series
from mlrollout.metrics.measurements import VectorResult
from mlrollout.metrics.provider import QueryOrigin
from mlrollout.metrics.settings import PrometheusSettings
from mlrollout.retry import PROVIDER_RETRY, RetryPolicy, compute_retrying

__all__ = ["MAX_RESPONSE_BYTES", "PromApi", "QueryOrigin"]

MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class PromApi:
    """Instant queries against one Prometheus, with bounded retries of transient failures."""

    def __init__(
        self,
        settings: PrometheusSettings,
        *,
        retry: RetryPolicy = PROVIDER_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        session = requests.Session()
        session.verify = settings.verify
        session.hooks["response"].append(_raise_for_status)
        self.settings = settings
        self._retrying = compute_retrying(retry, sleep)
        self._connect = PrometheusConnect(
            url=settings.url,
            headers=dict(settings.headers) or None,
            auth=settings.basic_auth,
            session=session,
            timeout=settings.timeout_s,
            retry=Retry(total=0, raise_on_status=False),
        )
        # Mounted after the library's own adapter (same prefix wins): every request, and any
        # redirect it follows, ends within the timeout in total and reads a bounded answer.
        for prefix in (settings.url, "http://", "https://"):
            session.mount(
                prefix,
                BoundedAdapter(
                    total_s=settings.timeout_s,
                    max_bytes=MAX_RESPONSE_BYTES,
                    max_retries=Retry(total=0, raise_on_status=False),
                ),
            )

    def close(self) -> None:
        """Release the connection pool."""
        self._connect.close()

    def fetch_vector(self, query: str, *, at: float, origin: QueryOrigin) -> VectorResult:
        """``(labels, value)`` per series of ``query`` evaluated at ``at`` (Unix seconds)."""
        result = self._fetch(query, at=at, origin=origin)
        if _is_sample(result):
            return [({}, _number(result[1]))]
        if all(isinstance(item, dict) and "value" in item for item in result):
            return [(dict(item["metric"]), _number(item["value"][1])) for item in result]
        raise QueryError(
            f"{origin.describe()}: must return an instant vector or a scalar: {query}",
            source=f"AnalysisTemplate/{origin.template}",
        )

    def fetch_series(self, selector: str, *, at: float, origin: QueryOrigin) -> list[Series]:
        """Raw samples of the range selector ``selector`` (``name{...}[range]``) at ``at``."""
        result = self._fetch(selector, at=at, origin=origin)
        if not all(isinstance(item, dict) and "values" in item for item in result):
            raise ProviderError(f"{origin.describe()}: expected a range vector for {selector}")
        return [
            Series(
                labels=dict(item["metric"]),
                samples=tuple((float(t), _number(v)) for t, v in item["values"]),
            )
            for item in result
        ]

    def _fetch(self, query: str, *, at: float, origin: QueryOrigin) -> Any:
        for attempt in self._retrying:
            with attempt:
                return self._fetch_once(query, at=at, origin=origin)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _fetch_once(self, query: str, *, at: float, origin: QueryOrigin) -> Any:
        try:
            return self._connect.custom_query(query, params={"time": f"{at:.3f}"})
        except requests.HTTPError as exc:
            raise _translate_status(exc.response, query=query, origin=origin) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ProviderUnavailableError(
                f"Prometheus at {self.settings.url} is unreachable ({origin.describe()}): "
                f"{_describe_failure(exc, self.settings.timeout_s)}"
            ) from exc
        except (
            PrometheusApiClientException,
            requests.RequestException,
            ValueError,
            KeyError,
            TypeError,
        ) as exc:
            raise ProviderError(
                f"Prometheus at {self.settings.url} gave an unusable answer "
                f"({origin.describe()}): {exc}"
            ) from exc


def _describe_failure(exc: requests.RequestException, timeout_s: float) -> str:
    text = str(exc)
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return f"timed out after {timeout_s:g}s"
    cause = text.rpartition("Caused by ")[2] or text
    return f"connection failed: {cause[:200]}"


def _raise_for_status(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    response.raise_for_status()


def _translate_status(
    response: requests.Response | None, *, query: str, origin: QueryOrigin
) -> MlrolloutError:
    status = response.status_code if response is not None else 0
    detail = _error_message(response)
    if status in (400, 422):
        return QueryError(
            f"{origin.describe()}: Prometheus refused the query (HTTP {status}: {detail}): {query}",
            source=f"AnalysisTemplate/{origin.template}",
        )
    message = f"Prometheus answered HTTP {status} ({origin.describe()}): {detail}"
    if status >= 500 or status == 429:
        return ProviderUnavailableError(message)
    return ProviderError(message)


def _error_message(response: requests.Response | None) -> str:
    if response is None:
        return "no response"
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason
    if isinstance(body, dict) and "error" in body:
        return f"{body.get('errorType', 'error')}: {body['error']}"
    return response.reason


def _is_sample(result: Any) -> bool:
    return (
        isinstance(result, list)
        and len(result) == 2
        and isinstance(result[0], int | float)
        and isinstance(result[1], str)
    )


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError) as exc:
        raise ProviderError(f"Prometheus returned a non-numeric sample value {text!r}") from exc
