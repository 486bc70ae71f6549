"""Fault injection: per verb, request target and n-th matching call.

Configured from the test process (``server.faults.add(...)``) and consulted by the HTTP
``handler`` before it touches the store, so a faulted request never writes. A fault can
answer with a status (409, 429 with ``Retry-After``, 500, ...), reset the connection, delay
the request (then serve it normally), or delay and then fail.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

__all__ = ["Fault", "FaultAction", "FaultPlan"]


@dataclass
class Fault:
    """One configured fault and how often it matched and fired."""

    verb: str | None
    pattern: re.Pattern[str]
    nth: int
    times: int | None
    status: int | None
    retry_after: int | None
    reset: bool
    delay: float
    message: str
    matched: int = 0
    fired: int = 0

    def _fires_on(self, count: int) -> bool:
        if count < self.nth:
            return False
        return self.times is None or count < self.nth + self.times


@dataclass(frozen=True)
class FaultAction:
    """What the handler must do to one request: wait, then reset or answer ``status``."""

    delay: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    reset: bool = False
    message: str = ""


class FaultPlan:
    """The faults in force; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        *,
        verb: str | None = None,
        path_regex: str = "",
        nth: int = 1,
        times: int | None = 1,
        status: int | None = None,
        retry_after: int | None = None,
        reset: bool = False,
        delay: float = 0.0,
        message: str = "injected fault",
    ) -> Fault:
        """Fault the ``nth`` (1-based) and the next ``times - 1`` matching requests.

        ``verb`` is the HTTP method (None: any); ``path_regex`` is searched in the request
        target, path and query string (``r"/pods\\?.*watch=true"`` selects watches);
        ``times=None`` faults every match from the ``nth`` on.
        """
        if status is None and not reset and delay <= 0:
            raise ValueError("a fault needs a status, a reset or a delay")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"fault status must be 4xx or 5xx, not {status}")
        if nth < 1 or (times is not None and times < 1):
            raise ValueError("nth and times count from 1")
        fault = Fault(
            verb=verb.upper() if verb else None,
            pattern=re.compile(path_regex),
            nth=nth,
            times=times,
            status=status,
            retry_after=retry_after,
            reset=reset,
            delay=delay,
            message=message,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def decide(self, verb: str, target: str) -> FaultAction | None:
        """Count this request against every matching fault; the combined action, if any."""
        delay, chosen = 0.0, None
        with self._lock:
            for fault in self._faults:
                if fault.verb not in (None, verb) or not fault.pattern.search(target):
                    continue
                fault.matched += 1
                if not fault._fires_on(fault.matched):
                    continue
                fault.fired += 1
                delay += fault.delay
                if chosen is None and (fault.status is not None or fault.reset):
                    chosen = fault
        if chosen is None:
            return FaultAction(delay=delay) if delay > 0 else None
        return FaultAction(
            delay=delay,
            status=chosen.status,
            retry_after=chosen.retry_after,
            reset=chosen.reset,
            message=chosen.message,
        )
