"""A work queue with per-key due times: each rollout is processed by one worker at a time.

Part of the ``controller`` layer (the in-cluster manager). Adding a key that is already
queued keeps the earlier due time; a key being processed is re-queued after it finishes if
it was added meanwhile, so no change is lost and no rollout is reconciled twice at once.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

__all__ = ["WorkQueue"]

Key = tuple[str, str]


class WorkQueue:
    """Due-time ordered keys; ``get`` blocks until one is due or the queue shuts down."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._heap: list[tuple[float, Key]] = []
        self._due: dict[Key, float] = {}
        self._active: set[Key] = set()
        self._again: dict[Key, float] = {}
        self._cond = threading.Condition()
        self._closed = False

    def add(self, key: Key, *, after: float = 0.0) -> None:
        """Process ``key`` in ``after`` seconds (earlier of this and any pending time)."""
        with self._cond:
            when = self._monotonic() + max(after, 0.0)
            if key in self._active:
                self._again[key] = min(when, self._again.get(key, when))
                return
            if key in self._due and self._due[key] <= when:
                return
            self._due[key] = when
            heapq.heappush(self._heap, (when, key))
            self._cond.notify()

    def get(self, timeout: float | None = None) -> Key | None:
        """The next due key (now marked active), or None on shutdown or timeout."""
        deadline = None if timeout is None else self._monotonic() + timeout
        with self._cond:
            while not self._closed:
                self._drop_stale()
                now = self._monotonic()
                if self._heap and self._heap[0][0] <= now:
                    _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._active.add(key)
                    return key
                wait = self._heap[0][0] - now if self._heap else None
                if deadline is not None:
                    left = deadline - now
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
            return None

    def done(self, key: Key) -> None:
        """``key`` finished; re-queue it if it was added while active."""
        with self._cond:
            self._active.discard(key)
            again = self._again.pop(key, None)
        if again is not None:
            self.add(key, after=again - self._monotonic())

    def close(self) -> None:
        """Wake every waiting worker; ``get`` returns None from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._due)

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
