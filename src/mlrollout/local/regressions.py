"""Injectable regressions of the reference model server, changeable while it runs.

Part of the ``local`` sandbox. ``Regressions`` is a frozen set of knobs (latency factor,
error rate, accuracy drop, anomaly rate and distinct sources); ``RegressionSwitch`` holds the
current one behind a lock so the admin endpoint of ``modelserver`` (or a test, through the
Python API) can swap it between requests.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["RegressionSwitch", "Regressions"]


@dataclass(frozen=True)
class Regressions:
    """What is wrong with this server on purpose.

    ``latency_factor`` multiplies the simulated service time; ``error_rate`` is the chance a
    prediction answers HTTP 500; ``accuracy_drop`` is the chance a prediction is flipped;
    ``anomaly_rate`` is the chance a request raises a security anomaly, attributed to one of
    ``anomaly_sources`` distinct sources.
    """

    latency_factor: float = 1.0
    error_rate: float = 0.0
    accuracy_drop: float = 0.0
    anomaly_rate: float = 0.0
    anomaly_sources: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.latency_factor <= 100.0:
            raise ValueError(f"latency_factor must be in (0, 100], got {self.latency_factor}")
        for name in ("error_rate", "accuracy_drop", "anomaly_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not 1 <= self.anomaly_sources <= 10_000:
            raise ValueError(f"anomaly_sources must be in [1, 10000], got {self.anomaly_sources}")

    def updated(self, changes: Mapping[str, Any]) -> Regressions:
        """A copy with ``changes`` (field name -> value) applied; unknown names are refused."""
        known = {f.name: f.type for f in fields(self)}
        if unknown := sorted(set(changes) - set(known)):
            raise ValueError(f"unknown regression settings {unknown} (known: {sorted(known)})")
        typed: dict[str, Any] = {
            name: int(value) if name == "anomaly_sources" else float(value)
            for name, value in changes.items()
        }
        return replace(self, **typed)

    def to_dict(self) -> dict[str, float | int]:
        """The settings as a JSON-ready dict."""
        return asdict(self)


class RegressionSwitch:
    """The current ``Regressions`` of one server, swapped atomically."""

    def __init__(self, initial: Regressions | None = None) -> None:
        self._lock = threading.Lock()
        self._current = initial or Regressions()

    @property
    def current(self) -> Regressions:
        """The regressions in force now."""
        with self._lock:
            return self._current

    def apply(self, changes: Mapping[str, Any]) -> Regressions:
        """Apply ``changes`` to the current settings and return the result."""
        with self._lock:
            self._current = self._current.updated(changes)
            return self._current
