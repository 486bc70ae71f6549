"""The real API server's audit log as a write history the invariant checks can query.

Part of the ``controlplane`` test package. ``audit-policy.yaml`` records every write (the
objects a rollout changes with their stored bodies), no reads; ``AuditLog`` reads the JSON
lines the API server appends, once each, and answers "which writes, by whom, in which
namespace". Each test has its own namespace, so a test's history is its namespace's.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["AuditLog", "Request"]

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Request:
    """One completed request (writes always; reads when the policy records them)."""

    verb: str
    user: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int
    stored: dict[str, Any] | None  # the response object, when the policy records it
    timestamp: str  # stageTimestamp: when the API server completed the request
    agent: str = ""  # the client's User-Agent
    received: str = ""  # requestReceivedTimestamp: when the API server received it

    @property
    def at(self) -> datetime:
        """When the API server completed the request."""
        return datetime.fromisoformat(self.timestamp)

    @property
    def received_at(self) -> datetime:
        """When the API server received the request."""
        return datetime.fromisoformat(self.received or self.timestamp)

    @property
    def write(self) -> bool:
        """Whether the request was a write."""
        return self.verb in WRITE_VERBS

    @property
    def succeeded(self) -> bool:
        """Whether the API server accepted the request."""
        return 200 <= self.code < 300


def _request(event: dict[str, Any]) -> Request | None:
    if event.get("stage") != "ResponseComplete" or "objectRef" not in event:
        return None
    ref = event.get("objectRef") or {}
    response = event.get("responseObject")
    stored = response if isinstance(response, dict) and response.get("kind") != "Status" else None
    return Request(
        verb=event["verb"],
        user=(event.get("user") or {}).get("username", ""),
        resource=ref.get("resource", ""),
        subresource=ref.get("subresource", ""),
        namespace=ref.get("namespace", ""),
        name=ref.get("name", "") or (stored or {}).get("metadata", {}).get("name", ""),
        code=int((event.get("responseStatus") or {}).get("code", 0)),
        stored=stored,
        timestamp=event.get("stageTimestamp", ""),
        agent=event.get("userAgent", ""),
        received=event.get("requestReceivedTimestamp", ""),
    )


class AuditLog:
    """Incremental reader of one audit log file; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # trials in threads share one reader
        self._offset = 0
        self._partial = b""
        self._requests: list[Request] = []

    def _read_new(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                request = _request(json.loads(line))
                if request is not None:
                    self._requests.append(request)

    def requests(
        self,
        *,
        namespace: str | None = None,
        user: str | None = None,
        resource: str | None = None,
        succeeded: bool | None = None,
        writes_only: bool = False,
    ) -> list[Request]:
        """Requests so far, oldest first, filtered by the given fields."""
        with self._lock:
            self._read_new()
            requests = list(self._requests)
        return [
            r
            for r in requests
            if (namespace is None or r.namespace == namespace)
            and (user is None or r.user == user)
            and (resource is None or r.resource == resource)
            and (succeeded is None or r.succeeded == succeeded)
            and (not writes_only or r.write)
        ]

    def writes(
        self,
        *,
        namespace: str | None = None,
        user: str | None = None,
        resource: str | None = None,
        succeeded: bool | None = True,
    ) -> list[Request]:
        """Writes so far (by default the accepted ones), oldest first."""
        return self.requests(
            namespace=namespace,
            user=user,
            resource=resource,
            succeeded=succeeded,
            writes_only=True,
        )
