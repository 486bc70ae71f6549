"""The containment boundary around one rollout's pass: whatever it raises stays with it.

Part of the ``controller`` layer, used by the ``manager``'s workers. ``classify`` turns any
exception — from the error tree or not (a bug, a library error nobody translated) — into a
``Failure``: a reason naming its cause and a redacted one-line message. ``record_failure``
puts it on that rollout as the condition ``Reconciled=False`` and a Warning Event (best
effort, fenced like every other status write); ``Backoff`` spaces the retries of a rollout
that keeps failing. Traffic is held: a failed pass applies nothing, so the split in force
stays (``loop`` writes the target before the router, so the split is always defined).

``clear_failure`` flips the condition back once a pass of that rollout succeeds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlrollout.errors import KubeError, MlrolloutError, SpecError
from mlrollout.kube import EventRecorder, KubeClient
from mlrollout.kube.client import PatchType
from mlrollout.kube.fencing import NO_FENCE, Fence
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.model import format_instant
from mlrollout.redaction import redact

__all__ = [
    "CONDITION",
    "Backoff",
    "Failure",
    "classify",
    "clear_failure",
    "record_failure",
]

log = logging.getLogger("mlrollout.controller")

CONDITION = "Reconciled"
INTERNAL = "InternalError"
MESSAGE_LIMIT = 1000


@dataclass(frozen=True)
class Failure:
    """Why a pass failed: ``reason`` names the cause (an error class, or ``InternalError``
    for anything outside the error tree) and ``message`` is one redacted line."""

    reason: str
    message: str
    internal: bool


def classify(exc: BaseException) -> Failure:
    """The failure a pass that raised ``exc`` records."""
    internal = not isinstance(exc, MlrolloutError)
    if isinstance(exc, RecursionError):
        internal = False
        exc = SpecError("input nested too deeply to process")
    kind = type(exc).__name__
    reason = INTERNAL if internal else kind
    text = f"{kind}: {exc}" if internal else str(exc)
    line = " ".join(redact(text).split())
    return Failure(reason=reason, message=line[:MESSAGE_LIMIT] or kind, internal=internal)


@dataclass
class Backoff:
    """Per-rollout exponential backoff: ``base`` doubling up to ``cap``; reset on success."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=5)
    _failures: dict[Any, int] = field(default_factory=dict)

    def failed(self, key: Any) -> timedelta:
        """Count one more failure of ``key``; how long to wait before its next pass."""
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        factor: int = 2 ** min(count - 1, 30)
        wait: timedelta = min(self.base * factor, self.cap)
        return wait

    def failures(self, key: Any) -> int:
        """Consecutive failed passes of ``key``."""
        return self._failures.get(key, 0)

    def succeeded(self, key: Any) -> None:
        """``key`` had a good pass: start again from ``base``."""
        self._failures.pop(key, None)


def _condition(
    conditions: list[dict[str, Any]], *, status: str, reason: str, message: str, now: str
) -> list[dict[str, Any]]:
    previous = next((c for c in conditions if c.get("type") == CONDITION), None)
    moved = previous is None or previous.get("status") != status
    since = now if moved or previous is None else previous.get("lastTransitionTime", now)
    updated = {
        "type": CONDITION,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }
    return [*(c for c in conditions if c.get("type") != CONDITION), updated]


def _patch_condition(
    client: KubeClient,
    raw: dict[str, Any],
    *,
    fence: Fence,
    status: str,
    reason: str,
    message: str,
    now: datetime,
) -> None:
    meta = raw["metadata"]
    current = (raw.get("status") or {}).get("conditions") or []
    conditions = _condition(
        [c for c in current if isinstance(c, dict)],
        status=status,
        reason=reason,
        message=message,
        now=format_instant(now),
    )
    body = {
        "metadata": {"resourceVersion": meta.get("resourceVersion")},
        "status": {"conditions": conditions},
    }
    fence.check("the Reconciled condition")
    client.patch(
        MODELROLLOUTS,
        meta["name"],
        meta.get("namespace"),
        body,
        patch_type=PatchType.MERGE,
        subresource="status",
    )


def record_failure(
    client: KubeClient,
    key: tuple[str, str],
    failure: Failure,
    *,
    now: datetime,
    fence: Fence = NO_FENCE,
) -> None:
    """Put ``failure`` on the rollout as ``Reconciled=False`` and a Warning Event (best
    effort: a rollout that cannot be read or written is only logged)."""
    try:
        raw = client.get(MODELROLLOUTS, key[1], key[0])
        _patch_condition(
            client,
            raw,
            fence=fence,
            status="False",
            reason=failure.reason,
            message=failure.message,
            now=now,
        )
    except (KubeError, KeyError, TypeError) as exc:
        log.warning("%s/%s: could not record the failure: %s", *key, redact(str(exc)))
        return
    error = EventRecorder(client).emit(
        raw, type="Warning", reason=f"Reconcile{failure.reason}"[:128], message=failure.message
    )
    if error is not None:
        log.warning("%s/%s: event not recorded: %s", *key, redact(str(error)))


def clear_failure(
    client: KubeClient, raw: dict[str, Any], *, now: datetime, fence: Fence = NO_FENCE
) -> None:
    """Flip ``Reconciled`` back to True when the rollout as written still says False."""
    conditions = (raw.get("status") or {}).get("conditions") or []
    if not any(c.get("type") == CONDITION and c.get("status") == "False" for c in conditions):
        return
    try:
        _patch_condition(
            client,
            raw,
            fence=fence,
            status="True",
            reason="Recovered",
            message="the last pass succeeded",
            now=now,
        )
    except KubeError as exc:  # a conflict means someone wrote since: the next pass retries
        log.info("could not clear the Reconciled condition: %s", redact(str(exc)))
