"""Worker heartbeats: is every worker alive, and is none stuck in one pass for too long?

Part of the ``controller`` layer, read by the manager's ``/readyz``. Each worker owns a slot;
it marks the start and the end of each pass. A slot busy for longer than ``stuck_after`` (a
bound above the total deadline of every outbound call a pass makes) is *stuck*; a slot whose
thread has ended is *dead*. Either makes the controller not ready, so Kubernetes restarts it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Heartbeats", "Readiness"]


@dataclass(frozen=True)
class Readiness:
    """Whether the controller is ready, and why not."""

    ready: bool
    reason: str


@dataclass
class _Slot:
    thread: threading.Thread | None = None
    busy_since: float | None = None
    key: object = None


class Heartbeats:
    """One slot per worker."""

    def __init__(
        self, *, stuck_after: timedelta, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.stuck_after = stuck_after
        self._monotonic = monotonic
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    def attach(self, name: str, thread: threading.Thread) -> None:
        """Give slot ``name`` to ``thread`` (a restarted worker takes its slot over)."""
        with self._lock:
            self._slots[name] = _Slot(thread=thread)

    def begin(self, name: str, key: object) -> None:
        """The worker ``name`` starts a pass of ``key``."""
        with self._lock:
            slot = self._slots.setdefault(name, _Slot())
            slot.busy_since, slot.key = self._monotonic(), key

    def end(self, name: str) -> None:
        """The worker ``name`` finished its pass."""
        with self._lock:
            slot = self._slots.setdefault(name, _Slot())
            slot.busy_since, slot.key = None, None

    def dead(self) -> list[str]:
        """Slots whose thread has ended."""
        with self._lock:
            return [n for n, s in self._slots.items() if s.thread and not s.thread.is_alive()]

    def stuck(self) -> list[tuple[str, object, float]]:
        """Slots busy for longer than ``stuck_after``: (slot, key, seconds busy)."""
        now, bound = self._monotonic(), self.stuck_after.total_seconds()
        with self._lock:
            busy = [
                (n, s.key, now - s.busy_since)
                for n, s in self._slots.items()
                if s.busy_since is not None
            ]
        return [entry for entry in busy if entry[2] > bound]

    def readiness(self) -> Readiness:
        """Not ready while a worker is dead or stuck."""
        dead = self.dead()
        if dead:
            return Readiness(False, f"worker dead: {', '.join(sorted(dead))}")
        stuck = self.stuck()
        if stuck:
            name, key, seconds = stuck[0]
            return Readiness(False, f"worker stuck: {name} on {_show(key)} for {seconds:.0f}s")
        return Readiness(True, "ok")


def _show(key: object) -> str:
    if isinstance(key, tuple):
        return "/".join(str(part) for part in key)
    return str(key)
