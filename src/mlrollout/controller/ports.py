"""The ports the controller loop talks to; each platform (Kubernetes, local) implements them.

Part of the ``controller`` layer. Small Protocols, so the loop is tested with hand-written
fakes and every platform plugs in the same way. ``TrafficRouter`` is the traffic layer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mlrollout.core.actions import Deploy
from mlrollout.core.observation import AnalysisLook, EnvState, VerificationOutcome
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec import RolloutStatus
from mlrollout.spec.policy import WebhookType
from mlrollout.spec.status import EnvName, Intent

__all__ = ["Analyst", "Confirmer", "Environments", "RolloutState", "Verifier"]


class RolloutState(Protocol):
    """Where rollouts' specs, statuses and intents live: ``kube.RolloutStore`` in a cluster,
    ``local.StateDir`` on the local platform (each implements it itself)."""

    def read(self, namespace: str, name: str) -> StoredRollout:
        """The rollout as stored now."""
        ...

    def write_status(self, stored: StoredRollout, status: RolloutStatus) -> StoredRollout:
        """Write ``status`` at the version ``stored`` was read (``ConflictError`` if stale)."""
        ...

    def request(self, namespace: str, name: str, intent: Intent) -> str:
        """Record a user intent on the rollout, as ``mlrollout promote|pause|...`` does;
        returns the annotation value written."""
        ...


class Environments(Protocol):
    """The two GPU environments of one rollout."""

    def observe(self) -> dict[EnvName, EnvState]:
        """Both environments' release and readiness."""
        ...

    def deploy(self, action: Deploy) -> None:
        """Put a release on an environment (idempotent)."""
        ...

    def scale(self, env: EnvName, replicas: int) -> None:
        """Scale an environment (idempotent)."""
        ...

    def set_preview(self, env: EnvName) -> None:
        """Point the preview Service at ``env`` (blue-green)."""
        ...


class Verifier(Protocol):
    """The supply-chain gates."""

    def verify(self, stored: StoredRollout) -> VerificationOutcome:
        """Run every gate for the release in ``stored.status.release``; a refusal is an
        outcome, never an exception."""
        ...


class Confirmer(Protocol):
    """Gating webhooks: asks each configured webhook of the given types."""

    def confirm(
        self, stored: StoredRollout, types: Sequence[WebhookType]
    ) -> dict[str, tuple[bool, str]]:
        """Per type: whether every webhook of it answered 2xx, and what they said."""
        ...


class Analyst(Protocol):
    """Feeds the judge with fresh measurements and reports its latest look."""

    def look(self, stored: StoredRollout, *, now_s: float) -> AnalysisLook | None:
        """The look for the current analysis step, or None when no analysis is due."""
        ...
