"""The ``status`` subresource of a ModelRollout: what the controller has done and seen.

Part of the ``spec`` layer, so that the CRD schema and the controller's reads share one
definition. The controller builds a new status during a pass and writes it once, last,
with the resourceVersion it read. The analysis is a typed record (``spec.analysis``).
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializationInfo,
    StringConstraints,
    WithJsonSchema,
    field_serializer,
    model_validator,
)

from mlrollout.spec.analysis import AnalysisRecord
from mlrollout.spec.base import IntentStamp, SpecModel, Timestamp

__all__ = [
    "INTENT_PREFIX",
    "REVISION_LIMIT_MAX",
    "TOTAL_BASIS_POINTS",
    "UNDO_ANNOTATION",
    "BasisPoints",
    "Condition",
    "EnvName",
    "HistoryEntry",
    "Intent",
    "Phase",
    "ReportRef",
    "Revision",
    "RollbackCause",
    "RolloutStatus",
    "ScaleDown",
    "StatusRelease",
    "TrafficSplit",
    "TrafficStatus",
    "VerificationStatus",
    "other_env",
    "set_condition",
    "to_basis_points",
]

EnvName = Literal["blue", "green"]


def other_env(env: EnvName) -> EnvName:
    """The other environment."""
    return "green" if env == "blue" else "blue"


Text = Annotated[str, StringConstraints(max_length=32768)]


INTENT_PREFIX = "mlrollout.io/intent."
"""Annotation prefix under which the CLI records intents (metadata: no new generation)."""


UNDO_ANNOTATION = "mlrollout.io/undo"
"""Annotation written by ``mlrollout undo`` with the spec change it makes:
``revision=<n>,generation=<g>[,skipAnalysis]``; it applies to generation ``g`` only."""


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

    @property
    def terminal(self) -> bool:
        """The rollout has ended; only a new release, ``retry`` or ``rollback`` moves it."""
        return self in _TERMINAL

    @property
    def in_flight(self) -> bool:
        """A release is being verified, deployed, analysed, promoted or rolled back."""
        return not self.terminal and self is not Phase.PENDING

    @property
    def retryable(self) -> bool:
        """``retry`` starts the same release again from this phase."""
        return self.terminal and self is not Phase.SUCCEEDED

    @property
    def settled(self) -> bool:
        """Nothing moves without a person: ended, or paused for a decision."""
        return self.terminal or self is Phase.PAUSED


_TERMINAL = frozenset(
    {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED, Phase.REFUSED}
)


TOTAL_BASIS_POINTS = 10_000
"""All the traffic, in basis points of a percent (so 0.5 % is 50)."""

BasisPoints = Annotated[int, Field(ge=0, le=TOTAL_BASIS_POINTS)]
"""A share of traffic in basis points of a percent, 0 to 10 000."""


def to_basis_points(percent: float) -> int:
    """A percentage as basis points of a percent, rounded to the nearest integer.

    >>> to_basis_points(0.5), to_basis_points(99.5), to_basis_points(33.333)
    (50, 9950, 3333)
    """
    return round(percent * 100)


class TrafficSplit(SpecModel):
    """A split of traffic between the stable and the candidate environment: ``canaryWeight``
    is the candidate's share in percent, to the basis point; the stable environment gets
    the rest."""

    # Held as the canary's basis points (``canary_bp``, 0-10 000); the stable share is
    # derived, so the two sum to 10 000 by construction. ``canaryWeight`` on the wire is
    # derived from the basis points and read back into them (statuses written before basis
    # points load unchanged).
    stable_env: EnvName
    canary_env: EnvName
    canary_bp: Annotated[
        BasisPoints,
        Field(alias="canaryWeight"),
        WithJsonSchema(
            {
                "type": "number",
                "minimum": 0,
                "maximum": 100,
                "description": "The canary's share in percent, to the basis point (0.01 %).",
            }
        ),
    ]

    @model_validator(mode="before")
    @classmethod
    def _from_percent(cls, data: Any) -> Any:
        """``canaryWeight`` (percent, as stored) becomes basis points."""
        if not isinstance(data, dict) or "canaryWeight" not in data:
            return data
        percent = data["canaryWeight"]
        if (
            isinstance(percent, bool)
            or not isinstance(percent, int | float)
            or not math.isfinite(percent)
            or not 0 <= percent <= 100
        ):
            raise ValueError(f"canaryWeight must be a percentage from 0 to 100, got {percent!r}")
        rest = {k: v for k, v in data.items() if k != "canaryWeight"}
        return {**rest, "canary_bp": to_basis_points(percent)}

    @field_serializer("canary_bp")
    def _to_percent(self, bp: int, info: SerializationInfo) -> float | int:
        """Percent under the wire name ``canaryWeight``; basis points under ``canary_bp``."""
        return bp / 100 if info.by_alias else bp

    @property
    def stable_bp(self) -> int:
        """The stable environment's share: the rest of the traffic."""
        return TOTAL_BASIS_POINTS - self.canary_bp

    @property
    def canary_percent(self) -> float:
        """The canary's share in percent, for people."""
        return self.canary_bp / 100

    @property
    def stable_percent(self) -> float:
        """The stable environment's share in percent, for people."""
        return self.stable_bp / 100


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


class Revision(SpecModel):
    """A release that reached Succeeded, as verified: enough to roll it out again.

    ``drivenBy`` is the identity of the process that held the controller Lease (the CLI's
    ``mlrollout-cli-<host>-<pid>`` or the in-cluster controller's); ``undoOf`` the revision
    an ``mlrollout undo`` re-released. Numbers only grow; the oldest entries are dropped
    beyond ``spec.revisionHistoryLimit``.
    """

    number: Annotated[int, Field(ge=1)]
    image: Text
    model_uri: Text
    model_sha256: Annotated[str, StringConstraints(max_length=64)]
    generation: int | None = None
    verification: VerificationStatus
    driven_by: Annotated[str, StringConstraints(max_length=253)] | None = None
    undo_of: Annotated[int, Field(ge=1)] | None = None
    skipped_analysis: bool = False
    verified_at: Timestamp | None = None
    succeeded_at: Timestamp

    @property
    def release(self) -> StatusRelease:
        """The release this revision recorded."""
        return StatusRelease(
            image=self.image, model_uri=self.model_uri, model_sha256=self.model_sha256
        )


REVISION_LIMIT_MAX = 50
"""Upper bound of ``spec.revisionHistoryLimit`` (status stays small: ~1 KiB a revision)."""


class ReportRef(SpecModel):
    """Where the current run's report record is kept (a ConfigMap owned by the rollout)."""

    config_map: Annotated[str, StringConstraints(max_length=253)]
    updated_at: Timestamp | None = None


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
    report: ReportRef | None = None
    conditions: list[Condition] = Field(default_factory=list, max_length=64)
    history: list[HistoryEntry] = Field(default_factory=list, max_length=256)
    revisions: list[Revision] = Field(default_factory=list, max_length=REVISION_LIMIT_MAX)
    acknowledged_intents: dict[Annotated[str, StringConstraints(max_length=64)], IntentStamp] = (
        Field(default_factory=dict)
    )
    message: Text = ""


def set_condition(
    conditions: list[Condition],
    *,
    type: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: datetime,
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
