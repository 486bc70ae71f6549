"""A decision: the new status, the actions that realise it, when to look again, and why.

Part of the pure ``core``. :func:`transition` is the one way a phase machine moves: it
builds the next status from the old one (pydantic ``model_copy``, history appended) and
returns the ``Decision`` that carries it, so every phase function reads as a short chain of
early returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlrollout.core.actions import Action, Emit, Notify
from mlrollout.model import to_millis
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import EnvName, HistoryEntry, Phase, TrafficSplit, other_env

__all__ = [
    "HISTORY_LIMIT",
    "Decision",
    "announce",
    "enter",
    "split_to",
    "stamp",
    "transition",
]

HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Decision:
    """The outcome of ``decide``: status to write last, actions, requeue time, reason."""

    status: RolloutStatus
    actions: tuple[Action, ...] = ()
    requeue_after: timedelta | None = None
    reason: str = ""
    changes: dict[str, Any] = field(default_factory=dict)


def stamp(now: datetime) -> datetime:
    """``now`` as a status time keeps it: UTC, whole milliseconds (so a status built in
    memory equals the same status read back)."""
    return to_millis(now)


def split_to(stable: EnvName, canary_bp: int) -> TrafficSplit:
    """``canary_bp`` basis points to the environment that is not ``stable``."""
    return TrafficSplit(stable_env=stable, canary_env=other_env(stable), canary_bp=canary_bp)


def enter(
    status: RolloutStatus,
    phase: Phase,
    *,
    now: datetime,
    reason: str,
    action: str,
    **changes: Any,
) -> RolloutStatus:
    """A status in ``phase`` (phase clock restarted when the phase changes), with history."""
    moved = status.phase is not phase
    entry = HistoryEntry(
        time=stamp(now),
        phase=phase,
        action=action,
        reason=reason,
        step=changes.get("current_step", status.current_step),
    )
    history = [*status.history, entry][-HISTORY_LIMIT:]
    update: dict[str, Any] = {"phase": phase, "message": reason, "history": history, **changes}
    if moved:
        update["phase_started_at"] = stamp(now)
    return status.model_copy(update=update)


def announce(phase: Phase, reason: str, *, warning: bool = False) -> tuple[Action, ...]:
    """The Event and notification that go with entering ``phase``."""
    kind: Any = "Warning" if warning else "Normal"
    return (Emit(type=kind, reason=phase.value, message=reason), Notify(phase=phase, reason=reason))


def transition(
    status: RolloutStatus,
    phase: Phase,
    *,
    now: datetime,
    action: str,
    reason: str,
    actions: tuple[Action, ...] = (),
    announced: bool = False,
    warning: bool = False,
    requeue_after: timedelta | None = None,
    **changes: Any,
) -> Decision:
    """Enter ``phase`` (:func:`enter`) and decide it: ``actions``, then, when ``announced``,
    the Event and notification of the new phase (a Warning when ``warning``)."""
    moved = enter(status, phase, now=now, action=action, reason=reason, **changes)
    said = announce(phase, reason, warning=warning) if announced else ()
    return Decision(
        status=moved, actions=(*actions, *said), requeue_after=requeue_after, reason=reason
    )
