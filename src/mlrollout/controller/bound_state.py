"""``BoundRolloutState``: the ``RolloutState`` port over one rollout of a rollout store.

Part of the ``controller`` layer. The store is the API server (``kube.RolloutStore``) for
the controller and ``promote``, or the state directory (``local.statedir.StateDir``) for
the local platform; both read, write status and record intents by namespace and name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import Intent

__all__ = ["BoundRolloutState", "RolloutRecords"]


class RolloutRecords(Protocol):
    """Where rollouts are stored: by namespace and name, status written at a version."""

    def read(self, namespace: str, name: str) -> StoredRollout:
        """The rollout as stored."""
        ...

    def write_status(self, stored: StoredRollout, status: RolloutStatus) -> StoredRollout:
        """Write at the version read (``ConflictError`` when stale)."""
        ...

    def request(self, namespace: str, name: str, intent: Intent) -> str:
        """Record ``intent`` for the rollout."""
        ...


@dataclass(frozen=True)
class BoundRolloutState:
    """One rollout's spec and status in ``store``."""

    store: RolloutRecords
    namespace: str
    name: str

    def read(self) -> StoredRollout:
        """Read and validate the rollout."""
        return self.store.read(self.namespace, self.name)

    def write_status(self, stored: StoredRollout, status: RolloutStatus) -> StoredRollout:
        """Write the status at the version read (``ConflictError`` when stale)."""
        return self.store.write_status(stored, status)

    def request(self, intent: Intent) -> None:
        """Record ``intent`` (the rollout's annotation, or its state file)."""
        self.store.request(self.namespace, self.name, intent)
