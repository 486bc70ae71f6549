"""Watch streams: which committed changes a watcher sees, and the event sequence itself.

``operations`` builds a :class:`WatchPlan` from the query string; ``handler`` iterates
:func:`stream_watch` and writes each event as one chunk of newline-delimited JSON. Without a
resourceVersion (or with ``"0"``) the stream starts with synthetic ADDED events for the
current objects, as on the real server. An object that stops matching the selector is sent
as DELETED and one that starts matching as ADDED. A too-old resourceVersion gives an ERROR
event carrying a 410 ``Expired`` Status, then the stream ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .failures import StatusError, compute_status_body
from .kinds import ResourceKind
from .selectors import FieldSelector, LabelSelector
from .store import ObjectStore, WatchEvent

__all__ = ["WatchPlan", "compute_watch_event", "stream_watch"]


@dataclass(frozen=True)
class WatchPlan:
    """What one watch request asked for."""

    kind: ResourceKind
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    resource_version: int | None
    timeout: float

    def selects(self, obj: dict[str, Any] | None) -> bool:
        """Whether ``obj`` is in the watched set."""
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels")) and self.fields.matches(obj)


def compute_watch_event(plan: WatchPlan, event: WatchEvent) -> dict[str, Any] | None:
    """The event ``plan``'s watcher receives for ``event``, or None."""
    if event.kind != plan.kind:
        return None
    if event.type == "DELETED":
        return {"type": "DELETED", "object": event.object} if plan.selects(event.object) else None
    now, before = plan.selects(event.object), plan.selects(event.previous)
    if now:
        return {"type": "MODIFIED" if before else "ADDED", "object": event.object}
    return {"type": "DELETED", "object": event.object} if before else None


def stream_watch(store: ObjectStore, plan: WatchPlan) -> Iterator[dict[str, Any]]:
    """The events of one watch, until its timeout or server shutdown."""
    deadline = time.monotonic() + plan.timeout
    cursor = plan.resource_version
    if not cursor:
        items, cursor = store.list_objects(plan.kind, plan.namespace)
        yield from ({"type": "ADDED", "object": o} for o in items if plan.selects(o))
    while not store.closed:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            events = store.events_since(cursor, timeout=remaining)
        except StatusError as failure:
            yield {"type": "ERROR", "object": compute_status_body(failure)}
            return
        for event in events:
            cursor = event.resource_version
            sent = compute_watch_event(plan, event)
            if sent is not None:
                yield sent
