"""The one place where Kubernetes client failures become mlrollout errors.

Part of the ``kube`` layer. ``ApiException`` is mapped by status code (404, 409, 403, 422,
429 with Retry-After, 5xx), the client's own body validation becomes ``InvalidObjectError``,
and transport failures (refused, reset, timed out) become
``ApiUnavailableError``; the Status object's message is kept so the user sees the server's
words. Everything is chained with ``raise ... from``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pydantic
import urllib3
from kubernetes.client.exceptions import ApiException

from mlrollout.errors import (
    ApiUnavailableError,
    ConflictError,
    ForbiddenError,
    InvalidObjectError,
    KubeError,
    NotFoundError,
    ThrottledError,
)

__all__ = ["kube_errors", "parse_retry_after", "translate_api_exception"]

_BY_STATUS: dict[int, type[KubeError]] = {
    404: NotFoundError,
    409: ConflictError,
    403: ForbiddenError,
    422: InvalidObjectError,
}


def parse_retry_after(headers: Mapping[str, str] | None) -> timedelta | None:
    """The Retry-After header in seconds (the API server never sends HTTP dates)."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return timedelta(seconds=min(max(seconds, 0.0), 300.0))
    return None


def _status_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return ""
    try:
        status = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    if isinstance(status, dict):
        return str(status.get("message") or status.get("reason") or "")[:1000]
    return ""


def translate_api_exception(exc: ApiException, *, action: str) -> KubeError:
    """Map an ``ApiException`` raised while doing ``action`` onto the error tree."""
    code = int(exc.status or 0)
    detail = _status_message(exc.body) or (exc.reason or "no reason given")
    message = f"{action}: HTTP {code}: {detail}"
    if code == 429:
        return ThrottledError(message, retry_after=parse_retry_after(exc.headers))
    if code in _BY_STATUS:
        return _BY_STATUS[code](message, status=code)
    if code == 0 or code >= 500:
        return ApiUnavailableError(message, status=code or None)
    return KubeError(message, status=code)


@contextmanager
def kube_errors(action: str) -> Iterator[None]:
    """Translate any client or transport failure inside the block, naming ``action``."""
    try:
        yield
    except ApiException as exc:
        raise translate_api_exception(exc, action=action) from exc
    except pydantic.ValidationError as exc:
        # The generated client validates typed bodies before sending them.
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"][1:])
        raise InvalidObjectError(
            f"{action}: refused by the client before sending: {where}: {first['msg']}"
        ) from exc
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise ApiUnavailableError(f"{action}: API server unreachable: {exc}") from exc
