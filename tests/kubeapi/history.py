"""The write history: one record per successful write, in resourceVersion order.

Appended by the ``store`` under its lock (so the order is the commit order); read by tests
and by ``validity.assert_valid_history`` to check invariants over every object ever written
("weights always sum to 100", "no pod before the gate passed").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WriteHistory", "WriteRecord"]


@dataclass(frozen=True)
class WriteRecord:
    """One committed write and the full object after it (before it, for a DELETE)."""

    time: float  # time.monotonic() at commit
    verb: str  # POST, PUT, PATCH, DELETE
    path: str  # request path (synthesised for the built-in controller's writes)
    kind: str
    namespace: str
    name: str
    resource_version: str
    object: dict[str, Any]
    subresource: str = ""  # "", "status" or "scale"
    actor: str = "client"  # "client" for HTTP requests, "controller" for the built-in one
    pruned: tuple[str, ...] = field(default=())  # fields dropped by the CRD schema


class WriteHistory:
    """Thread-safe, append-only list of :class:`WriteRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[WriteRecord] = []

    def append(self, record: WriteRecord) -> None:
        """Add ``record`` (called by the store only)."""
        with self._lock:
            self._records.append(record)

    def records(
        self,
        *,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        actor: str | None = None,
        verb: str | None = None,
    ) -> list[WriteRecord]:
        """The records matching every given filter, oldest first."""
        with self._lock:
            snapshot = list(self._records)
        return [
            r
            for r in snapshot
            if (kind is None or r.kind == kind)
            and (namespace is None or r.namespace == namespace)
            and (name is None or r.name == name)
            and (actor is None or r.actor == actor)
            and (verb is None or r.verb == verb)
        ]

    def clear(self) -> None:
        """Forget every record (e.g. after a test's setup phase)."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
