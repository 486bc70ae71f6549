"""Refusals of the test API server and their ``Status`` bodies.

Every handler, the store and the patch functions raise :class:`StatusError`; only the HTTP
handler (``handler``) turns one into a response: the HTTP code, the ``Status`` JSON body the
real kube-apiserver sends and any extra headers (``Retry-After``). It extends mlrollout's
``KubeError`` rather than starting a second error tree.
"""

from __future__ import annotations

from typing import Any

from mlrollout.errors import KubeError

from .kinds import ResourceKind

__all__ = ["StatusError", "compute_status_body"]

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _qualified(kind: ResourceKind) -> str:
    return kind.resource_id


class StatusError(KubeError):
    """A request the server refuses, rendered as a ``Status`` body with ``code`` and ``reason``."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=code)
        self.code = code
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.message = message
        self.details = details
        self.headers = headers or {}

    @classmethod
    def not_found(cls, kind: ResourceKind, name: str) -> StatusError:
        """404: no object of ``kind`` called ``name``."""
        return cls(
            f'{_qualified(kind)} "{name}" not found',
            code=404,
            details=_details(kind, name),
        )

    @classmethod
    def already_exists(cls, kind: ResourceKind, name: str) -> StatusError:
        """409 AlreadyExists: a create found an object with the same name."""
        return cls(
            f'{_qualified(kind)} "{name}" already exists',
            code=409,
            reason="AlreadyExists",
            details=_details(kind, name),
        )

    @classmethod
    def conflict(cls, kind: ResourceKind, name: str, why: str) -> StatusError:
        """409 Conflict: a precondition (resourceVersion, uid) did not hold."""
        return cls(
            f'Operation cannot be fulfilled on {_qualified(kind)} "{name}": {why}',
            code=409,
            details=_details(kind, name),
        )

    @classmethod
    def invalid(cls, kind: ResourceKind, name: str, *, field: str, detail: str) -> StatusError:
        """422 Invalid: the object fails validation at ``field``."""
        details = _details(kind, name)
        details["causes"] = [{"reason": "FieldValueInvalid", "message": detail, "field": field}]
        qualified = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
        return cls(
            f'{qualified} "{name}" is invalid: {field}: {detail}',
            code=422,
            details=details,
        )

    @classmethod
    def bad_request(cls, message: str) -> StatusError:
        """400 BadRequest: the request itself is malformed or does not match its URL."""
        return cls(message, code=400)


def _details(kind: ResourceKind, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind.plural}
    if kind.group:
        details["group"] = kind.group
    return details


def compute_status_body(failure: StatusError) -> dict[str, Any]:
    """The ``Status`` object the real API server sends for ``failure``."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": failure.message,
        "reason": failure.reason,
        "code": failure.code,
    }
    if failure.details:
        body["details"] = failure.details
    return body
