"""The ``status`` subresource of a ModelRollout: what the controller has done and seen.

Part of the ``spec`` layer, so that the CRD schema and the controller's reads share one
definition. The controller builds a new status during a pass and writes it once, last,
with the resourceVersion it read. The analysis is a typed record (``spec.analysis``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mlrollout.spec.analysis import AnalysisRecord
from mlrollout.spec.base import SpecModel

__all__ = [
    "INTENT_PREFIX",
    "Condition",
    "EnvName",
    "HistoryEntry",
    "Intent",
    "Phase",
    "RollbackCause",
    "RolloutStatus",
    "ScaleDown",
    "StatusRelease",
    "TrafficSplit",
    "TrafficStatus",
    "VerificationStatus",
    "set_condition",
]

EnvName = Literal["blue", "green"]
Text = Annotated[str, StringConstraints(max_length=32768)]
Timestamp = Annotated[str, StringConstraints(max_length=64)]


INTENT_PREFIX = "mlrollout.io/intent."
"""Annotation prefix under which the CLI records intents (metadata: no new generation)."""


class Intent(StrEnum):
    """What a user asked for through the CLI; acknowledged in ``status.acknowledgedIntents``."""

    PROMOTE = "promote"
    PROMOTE_FULL = "promote-full"
    ABORT = "abort"
    PAUSE = "pause"
    RESUME = "resume"
    ROLLBACK = "rollback"
    RETRY = "retry"


class Phase(StrEnum):
    """The rollout's phase (see the README's phase diagram)."""

    PENDING = "Pending"
    VERIFYING = "Verifying"
    DEPLOYING = "Deploying"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    FAILED = "Failed"
    REFUSED = "Refused"


class TrafficSplit(SpecModel):
    """A split between stable and candidate environments; the two weights sum to 100."""

    stable_env: EnvName
    canary_env: EnvName
    canary_weight: Annotated[float, Field(ge=0.0, le=100.0)]

    @property
    def stable_weight(self) -> float:
        """The stable environment's share (100 minus the canary's)."""
        return 100.0 - self.canary_weight


class TrafficStatus(SpecModel):
    """Intent first: ``target`` is persisted before the router write, ``applied`` after it."""

    target: TrafficSplit | None = None
    applied: TrafficSplit | None = None
    nearest: TrafficSplit | None = Field(
        None,
        description="The split closest to target that the router can give (replicas router: "
        "whole pods); set only when it differs from target, and the step counts as reached "
        "there.",
    )


class VerificationStatus(SpecModel):
    """The outcome of the gates for the release being rolled out."""

    image: Text | None = None
    verified: bool = False
    reason_code: Annotated[str, StringConstraints(max_length=64)] | None = None
    message: Text | None = None
    checked_at: Timestamp | None = None


class ScaleDown(SpecModel):
    """An environment to scale to zero once ``at`` has passed (kept warm until then)."""

    env: EnvName
    at: Timestamp


class RollbackCause(StrEnum):
    """Why traffic is going back to stable; decides the phase once it is there."""

    ANALYSIS = "analysis"
    ABORT = "abort"
    DEADLINE = "deadline"
    RESTART = "restart"
    USER = "user"


class Condition(SpecModel):
    """A Kubernetes-convention condition."""

    type: Annotated[str, StringConstraints(max_length=316)]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[str, StringConstraints(max_length=1024)] = ""
    message: Text = ""
    last_transition_time: Timestamp | None = None
    observed_generation: int | None = None


class HistoryEntry(SpecModel):
    """One decision the controller acted on, for ``status`` and reports."""

    time: Timestamp
    phase: Phase
    action: Annotated[str, StringConstraints(max_length=256)]
    reason: Text = ""
    step: int | None = None


class StatusRelease(SpecModel):
    """The release a status refers to (a new one in the spec starts a new rollout)."""

    image: Text
    model_uri: Text
    model_sha256: Annotated[str, StringConstraints(max_length=64)]


class RolloutStatus(SpecModel):
    """``status`` of a ModelRollout."""

    phase: Phase = Phase.PENDING
    observed_generation: int | None = None
    release: StatusRelease | None = None
    phase_started_at: Timestamp | None = None
    current_step: int | None = None
    step_started_at: Timestamp | None = None
    traffic: TrafficStatus = Field(default_factory=TrafficStatus)
    active_env: EnvName | None = None
    candidate_env: EnvName | None = None
    verification: VerificationStatus | None = None
    scale_down: ScaleDown | None = None
    rollback_cause: RollbackCause | None = None
    analysis: AnalysisRecord | None = None
    conditions: list[Condition] = Field(default_factory=list, max_length=64)
    history: list[HistoryEntry] = Field(default_factory=list, max_length=256)
    acknowledged_intents: dict[Annotated[str, StringConstraints(max_length=64)], Timestamp] = Field(
        default_factory=dict
    )
    message: Text = ""


def set_condition(
    conditions: list[Condition],
    *,
    type: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: str,
    generation: int | None,
) -> list[Condition]:
    """Conditions with ``type`` set; ``lastTransitionTime`` moves only when status changes."""
    previous = next((c for c in conditions if c.type == type), None)
    moved = previous is None or previous.status != status
    updated = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now if moved or previous is None else previous.last_transition_time,
        observed_generation=generation,
    )
    return [*(c for c in conditions if c.type != type), updated]
