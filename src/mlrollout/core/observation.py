"""What ``decide()`` sees: one frozen snapshot of a rollout and the world around it.

Part of the pure ``core``. ``observe`` (at the edge) builds it from the cluster, the
router, the gates and the judge; ``decide`` reads nothing else — not even the clock (``now``
is here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mlrollout.model.analysis import AnalysisDecision
from mlrollout.spec import ModelRollout, RolloutStatus
from mlrollout.spec.analysis import AnalysisRecord
from mlrollout.spec.status import EnvName, Intent, TrafficSplit

__all__ = ["AnalysisLook", "EnvState", "Observation", "UndoRequest", "VerificationOutcome"]


@dataclass(frozen=True)
class EnvState:
    """One environment's Deployment as observed."""

    name: EnvName
    image: str | None
    model_sha256: str | None
    replicas: int
    ready_replicas: int
    rolled_out: bool  # observedGeneration caught up and every replica updated and available

    def runs(self, image: str, model_sha256: str) -> bool:
        """True when the Deployment's template carries this release."""
        return self.image == image and self.model_sha256 == model_sha256

    @property
    def healthy(self) -> bool:
        """Rolled out with at least one ready replica."""
        return self.rolled_out and self.ready_replicas > 0


@dataclass(frozen=True)
class VerificationOutcome:
    """The gates' verdict on the release's image."""

    image: str
    passed: bool
    reason_code: str | None
    message: str


@dataclass(frozen=True)
class AnalysisLook:
    """The judge's latest look at the current step, and the record to persist.

    ``baseline_overdue`` says the step's maxDuration passed before the stable environment's
    pre-rollout baseline could be measured: ``decide`` then never promotes.
    """

    decision: AnalysisDecision
    reason: str
    step: int
    record: AnalysisRecord | None = None
    baseline_overdue: bool = False


@dataclass(frozen=True)
class UndoRequest:
    """``mlrollout undo`` wrote the spec's release from revision ``revision`` (this
    generation only); ``skip_analysis`` goes straight to full weight once the gates pass
    and the candidate is ready."""

    revision: int
    skip_analysis: bool = False


@dataclass(frozen=True)
class Observation:
    """A snapshot: the rollout as stored, its environments, traffic, gates, analysis, now."""

    rollout: ModelRollout
    generation: int
    now: datetime
    envs: dict[EnvName, EnvState]
    traffic: TrafficSplit | None
    verification: VerificationOutcome | None = None
    analysis: AnalysisLook | None = None
    intents: dict[Intent, datetime] = field(default_factory=dict)
    confirmations: dict[str, tuple[bool, str]] = field(default_factory=dict)
    undo: UndoRequest | None = None
    actor: str | None = None  # the identity driving this pass (the Lease holder)

    @property
    def status(self) -> RolloutStatus:
        """The stored status (empty for a new rollout)."""
        return self.rollout.status or RolloutStatus()
