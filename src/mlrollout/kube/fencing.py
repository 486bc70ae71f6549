"""Fencing: a writer checks that its Lease is still valid before every router or status write.

Part of the ``kube`` layer, beside ``lease``. The Lease is checked when a pass starts, but a
pass can be long (a slow provider, a slow webhook); a deposed leader must not write traffic
after a new leader took over. ``LeaseFence.check`` asks the ``LeaseLock`` whether its last
successful renewal is younger than the renew deadline *by this process's monotonic clock*
(so wall-clock skew between machines does not matter) and raises ``LeaseLostError`` if not.
The writer stops there; the next leader re-reads and recomputes.

``NO_FENCE`` is for writers that hold no Lease (tests, the local platform).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from mlrollout.errors import LeaseLostError

__all__ = ["NO_FENCE", "Fence", "LeaseFence"]


class Fence(Protocol):
    """Raises ``LeaseLostError`` when the caller may no longer write."""

    def check(self, what: str) -> None:
        """Called right before the write named ``what``."""
        ...


class _Held(Protocol):
    @property
    def held(self) -> bool: ...

    @property
    def name(self) -> str: ...


class LeaseFence:
    """A fence over a ``LeaseLock`` (anything with ``held`` and ``name``)."""

    def __init__(self, lease: _Held, *, on_lost: Callable[[], None] = lambda: None) -> None:
        self.lease = lease
        self.on_lost = on_lost

    def check(self, what: str) -> None:
        """Raise ``LeaseLostError`` unless the Lease was renewed within its renew deadline."""
        if self.lease.held:
            return
        self.on_lost()
        raise LeaseLostError(
            f"not writing {what}: the Lease {self.lease.name} is no longer held by this process"
        )


class _NoFence:
    def check(self, what: str) -> None:
        return None


NO_FENCE: Fence = _NoFence()
