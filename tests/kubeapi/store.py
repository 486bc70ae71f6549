"""The thread-safe object store: objects, one global resourceVersion, watch events, history.

Sits under ``operations`` (HTTP verbs) and ``deployments`` (the built-in controller). Every
write goes through :meth:`ObjectStore.create`, :meth:`ObjectStore.update` or
:meth:`ObjectStore.delete`, which apply ``lifecycle``'s rules under one lock, bump the
global resourceVersion, append a watch event and a ``WriteRecord``, and wake watchers.
A write that changes nothing is not a write (no new resourceVersion, no event), as on the
real server. Only the last ``event_window`` events are kept; watching from older is a 410.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .failures import StatusError
from .history import WriteHistory, WriteRecord
from .kinds import ResourceKind
from .lifecycle import assess_body, assess_precondition, compute_created, compute_updated

__all__ = ["Admission", "ObjectStore", "WatchEvent", "WriteContext"]

Admission = Callable[[ResourceKind, dict[str, Any]], tuple[dict[str, Any], tuple[str, ...]]]
Mutation = Callable[[dict[str, Any]], Any]
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class WatchEvent:
    """A committed change; ``previous`` is the object before it (None for ADDED)."""

    resource_version: int
    kind: ResourceKind
    type: str  # ADDED, MODIFIED, DELETED
    object: dict[str, Any]
    previous: dict[str, Any] | None


@dataclass(frozen=True)
class WriteContext:
    """Who writes and through which request: recorded in the write history."""

    verb: str
    path: str
    actor: str = "client"
    subresource: str = ""


def _admit_anything(
    kind: ResourceKind, obj: dict[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    return obj, ()


class ObjectStore:
    """In-memory objects of every kind, keyed by (namespace, name)."""

    def __init__(
        self,
        *,
        history: WriteHistory,
        admit: Admission = _admit_anything,
        event_window: int = 10_000,
    ) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._events: list[WatchEvent] = []
        self._compacted = 0
        self._rv = 0
        self._ips = itertools.count(1)
        self._history = history
        self._admit = admit
        self._window = event_window
        self._closed = False
        self._pokes = 0
        # Namespaces are synthetic (see ``operations``); tests may label them here.
        self.namespace_labels: dict[str, dict[str, str]] = {"default": {}}

    @property
    def resource_version(self) -> int:
        """The newest committed resourceVersion."""
        with self._lock:
            return self._rv

    @property
    def closed(self) -> bool:
        """Whether the server is shutting down (watchers should end)."""
        return self._closed

    def _bucket(self, kind: ResourceKind) -> dict[tuple[str, str], dict[str, Any]]:
        return self._objects.setdefault(kind.resource_id, {})

    def find(self, kind: ResourceKind, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A copy of the object, or None."""
        with self._lock:
            found = self._bucket(kind).get((namespace or "", name))
            return copy.deepcopy(found) if found is not None else None

    def get(self, kind: ResourceKind, namespace: str | None, name: str) -> dict[str, Any]:
        """A copy of the object; 404 if missing."""
        found = self.find(kind, namespace, name)
        if found is None:
            raise StatusError.not_found(kind, name)
        return found

    def list_objects(
        self,
        kind: ResourceKind,
        namespace: str | None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Copies of the objects (in ``namespace``, or all; passing ``where``), sorted by
        namespace and name, with the list's resourceVersion."""
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self._bucket(kind).items())
                if (namespace is None or ns == namespace) and (where is None or where(obj))
            ]
            return items, self._rv

    def create(
        self, kind: ResourceKind, namespace: str | None, body: Any, *, write: WriteContext
    ) -> dict[str, Any]:
        """Store a new object; 409 AlreadyExists if the name is taken."""
        checked = assess_body(kind, body, namespace=namespace, name=None)
        with self._lock:
            suffix = "".join(random.choices(_SUFFIX_ALPHABET, k=5))
            obj = compute_created(
                kind,
                checked,
                uid=str(uuid.uuid4()),
                resource_version=self._rv + 1,
                now=datetime.now(UTC),
                name_suffix=suffix,
            )
            key = (namespace or "", obj["metadata"]["name"])
            if key in self._bucket(kind):
                raise StatusError.already_exists(kind, key[1])
            self._allocate_cluster_ip(kind, obj)
            obj, pruned = self._admit(kind, obj)
            self._commit(kind, key, obj, None, write=write, pruned=pruned)
            return copy.deepcopy(obj)

    def _allocate_cluster_ip(self, kind: ResourceKind, obj: dict[str, Any]) -> None:
        spec = obj.get("spec")
        if kind.kind != "Service" or not isinstance(spec, dict) or spec.get("clusterIP"):
            return
        if spec.get("type") == "ExternalName":
            return
        number = next(self._ips)
        ip = f"10.96.{number // 250}.{number % 250 + 1}"
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]

    def update(
        self,
        kind: ResourceKind,
        namespace: str | None,
        name: str,
        mutate: Mutation,
        *,
        write: WriteContext,
    ) -> dict[str, Any]:
        """Read-modify-write under the lock: ``mutate`` gets a copy of the current object.

        ``mutate``'s result is checked like a PUT body; a resourceVersion in it that is not
        the current one is a 409. ``write.subresource == "status"`` stores only its status.
        """
        with self._lock:
            key = (namespace or "", name)
            current = self._bucket(kind).get(key)
            if current is None:
                raise StatusError.not_found(kind, name)
            new = assess_body(kind, mutate(copy.deepcopy(current)), namespace=namespace, name=name)
            assess_precondition(kind, current, new)
            subresource = "status" if write.subresource == "status" else None
            result = compute_updated(kind, current, new, subresource=subresource)
            result, pruned = self._admit(kind, result)
            if result == current:
                return copy.deepcopy(current)
            self._commit(kind, key, result, current, write=write, pruned=pruned)
            return copy.deepcopy(result)

    def delete(
        self,
        kind: ResourceKind,
        namespace: str | None,
        name: str,
        *,
        preconditions: dict[str, Any] | None = None,
        write: WriteContext,
    ) -> dict[str, Any]:
        """Remove an object (no finalizers, no grace period); its last state is returned."""
        with self._lock:
            key = (namespace or "", name)
            current = self._bucket(kind).get(key)
            if current is None:
                raise StatusError.not_found(kind, name)
            assess_precondition(kind, current, {"metadata": preconditions or {}})
            gone = copy.deepcopy(current)
            self._commit(kind, key, None, current, write=write, pruned=(), last=gone)
            return copy.deepcopy(gone)

    def _commit(
        self,
        kind: ResourceKind,
        key: tuple[str, str],
        obj: dict[str, Any] | None,
        previous: dict[str, Any] | None,
        *,
        write: WriteContext,
        pruned: tuple[str, ...],
        last: dict[str, Any] | None = None,
    ) -> None:
        self._rv += 1
        stored = obj if obj is not None else last
        assert stored is not None
        stored["metadata"]["resourceVersion"] = str(self._rv)
        if obj is None:
            del self._bucket(kind)[key]
            event_type = "DELETED"
        else:
            self._bucket(kind)[key] = obj
            event_type = "ADDED" if previous is None else "MODIFIED"
        self._events.append(WatchEvent(self._rv, kind, event_type, stored, previous))
        self._trim_events()
        self._history.append(
            WriteRecord(
                time=time.monotonic(),
                verb=write.verb,
                path=write.path,
                kind=kind.kind,
                namespace=key[0],
                name=key[1],
                resource_version=str(self._rv),
                object=copy.deepcopy(stored),
                subresource=write.subresource,
                actor=write.actor,
                pruned=pruned,
            )
        )
        self._changed.notify_all()

    def _trim_events(self) -> None:
        if len(self._events) > 2 * self._window:
            dropped = len(self._events) - self._window
            self._compacted = self._events[dropped - 1].resource_version
            del self._events[:dropped]

    def compact(self) -> None:
        """Forget every watch event so far: watching from an older version is then a 410."""
        with self._lock:
            self._compacted = self._rv
            self._events.clear()

    def events_since(self, resource_version: int, *, timeout: float) -> list[WatchEvent]:
        """Events newer than ``resource_version``, waiting up to ``timeout`` for the first.

        410 Expired when events after ``resource_version`` have been compacted away.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            pokes = self._pokes
            while True:
                if resource_version < self._compacted:
                    raise StatusError(
                        f"too old resource version: {resource_version} ({self._compacted})",
                        code=410,
                        reason="Expired",
                    )
                start = bisect.bisect_right(
                    self._events, resource_version, key=lambda e: e.resource_version
                )
                remaining = deadline - time.monotonic()
                woken = pokes != self._pokes
                if start < len(self._events) or self._closed or woken or remaining <= 0:
                    return self._events[start:]
                self._changed.wait(remaining)

    def poke(self) -> None:
        """Wake every waiter without a change (a controller setting changed)."""
        with self._changed:
            self._pokes += 1
            self._changed.notify_all()

    def close(self) -> None:
        """Wake every waiter for good (server shutdown)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
