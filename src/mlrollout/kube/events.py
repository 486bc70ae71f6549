"""Kubernetes Events on a ModelRollout, so ``kubectl describe`` tells what happened.

Part of the ``kube`` layer. Events are best effort: a failure to record one is returned to
the caller to log, never allowed to stop a rollback.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from mlrollout.kube.client import KubeClient
from mlrollout.kube.kinds import EVENTS
from mlrollout.redaction import redact

__all__ = ["EventRecorder", "build_event"]

COMPONENT = "mlrollout"


def build_event(
    involved: dict[str, Any],
    *,
    type: Literal["Normal", "Warning"],
    reason: str,
    message: str,
    now: datetime,
) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (an object as read from the API)."""
    meta = involved["metadata"]
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": meta.get("namespace", "default"),
        },
        "involvedObject": {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta["name"],
            "namespace": meta.get("namespace", "default"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": type,
        "reason": reason[:128],
        "message": redact(message)[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Creates Events; returns the error instead of raising it."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    def emit(
        self,
        involved: dict[str, Any],
        *,
        type: Literal["Normal", "Warning"],
        reason: str,
        message: str,
        now: datetime | None = None,
    ) -> Exception | None:
        """Record one Event; ``None`` on success, the error otherwise."""
        event = build_event(
            involved, type=type, reason=reason, message=message, now=now or datetime.now(UTC)
        )
        try:
            self.client.create(EVENTS, event, event["metadata"]["namespace"])
        except Exception as exc:  # an Event must never stop the caller
            return exc
        return None
