"""A bounded, thread-safe LRU of verified (policy, image digest) pairs that expire.

Part of the ``admission`` package: ``checker`` skips the registry for an image digest it
verified under the same policy less than ``ttl`` seconds ago. Only successes are cached, so a
refusal is re-checked on every review; at most ``max_entries`` are kept (least recently used
dropped first). The clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["VerifiedCache"]


class VerifiedCache:
    """Keys verified recently; ``max_entries`` >= 1, ``ttl`` > 0 seconds."""

    def __init__(
        self,
        *,
        max_entries: int = 1024,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or ttl <= 0:
            raise ValueError("max_entries must be >= 1 and ttl > 0")
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def contains(self, key: Hashable) -> bool:
        """Whether ``key`` was verified less than ``ttl`` seconds ago (refreshes its rank)."""
        with self._lock:
            expires = self._entries.get(key)
            if expires is None:
                return False
            if self._clock() >= expires:
                del self._entries[key]
                return False
            self._entries.move_to_end(key)
            return True

    def add(self, key: Hashable) -> None:
        """Record ``key`` as verified now, evicting the least recently used beyond the bound."""
        with self._lock:
            self._entries[key] = self._clock() + self.ttl
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
