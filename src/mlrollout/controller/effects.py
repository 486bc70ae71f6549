"""Effects: apply a decision's actions through the ports, intent first, status last.

Part of the ``controller`` layer, at the edge. A ``Shift`` persists ``traffic.target`` before
the router write and ``traffic.applied`` after it; the decision's status is written last
with the resourceVersion read, and only when it differs from the status read (a settled
rollout's pass writes nothing). Every action is idempotent, so after a crash at any named
``CrashPoint`` the next pass repeats what was not recorded. Before every router, workload,
Event, report-record or status write the edge's ``Fence`` checks the writer still holds its
Lease (``kube.fencing``): a deposed leader writes nothing at all.
Events, notifications and informational webhooks are best effort, and so is the report record
(``Edge.record``), kept just before the status that refers to it.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from mlrollout.controller.ports import Environments, RolloutState
from mlrollout.core.actions import (
    Action,
    Deploy,
    Emit,
    Notify,
    ScaleEnv,
    SetPreview,
    Shift,
)
from mlrollout.core.decision import Decision
from mlrollout.core.phases import same_split
from mlrollout.errors import SpecError
from mlrollout.hooks.notify import audit_line
from mlrollout.kube.fencing import NO_FENCE, Fence
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec import RolloutStatus
from mlrollout.spec.environment import EnvironmentSettings
from mlrollout.spec.status import TrafficSplit
from mlrollout.traffic.port import TrafficRouter
from mlrollout.traffic.replicas import ReplicasRouter

__all__ = ["CRASH_ENV", "CRASH_POINTS", "Edge", "apply_decision", "crash_from_environment"]

audit = logging.getLogger("mlrollout.audit")

CRASH_POINTS = (
    "before-target-write",
    "before-router-write",
    "after-router-write",
    "before-scale",
    "after-scale",
    "before-status-write",
    "after-status-write",
)
"""Named points where tests kill the controller (``MLROLLOUT_CRASH_AT``)."""

CRASH_ENV = "MLROLLOUT_CRASH_AT"


def crash_from_environment(environ: Mapping[str, str] | None = None) -> Callable[[str], None]:
    """A crash hook from ``MLROLLOUT_CRASH_AT=point[:n]``: SIGKILL this process the n-th time
    (default first) it passes ``point``. A testing aid for the crash-recovery tests; without
    the variable the hook does nothing."""
    setting = EnvironmentSettings.from_environment(environ).crash_at
    if not setting:
        return lambda point: None
    point, _, nth = setting.partition(":")
    if point not in CRASH_POINTS:
        raise SpecError(
            f"must be one of {', '.join(CRASH_POINTS)} (optionally :n), got {setting!r}",
            path=CRASH_ENV,
        )
    remaining = [int(nth) if nth.isdigit() else 1]

    def crash(name: str) -> None:
        if name == point:
            remaining[0] -= 1
            if remaining[0] == 0:
                os.kill(os.getpid(), signal.SIGKILL)

    return crash


@dataclass
class Edge:
    """Everything effects need for one rollout."""

    state: RolloutState
    namespace: str  # the rollout's, in ``state``
    name: str
    environments: Environments
    router: TrafficRouter
    crash: Callable[[str], None] = lambda point: None
    emit: Callable[[StoredRollout, Emit], None] = lambda stored, event: None
    notify: Callable[[StoredRollout, Notify], None] = lambda stored, note: None
    record: Callable[[StoredRollout, RolloutStatus], RolloutStatus] = lambda stored, status: status
    log: deque[str] = field(default_factory=lambda: deque(maxlen=1000))
    fence: Fence = NO_FENCE  # checked before every write to the API server


def apply_decision(
    edge: Edge, stored: StoredRollout, decision: Decision, *, now: datetime
) -> StoredRollout:
    """Apply ``decision`` and write its status; returns the rollout as written."""
    status = decision.status
    name = f"{stored.rollout.namespace}/{stored.rollout.name}"
    for action in decision.actions:
        _audit(
            edge,
            now=now,
            rollout=name,
            generation=stored.generation,
            action=action,
            reason=decision.reason,
        )
        stored, status = _apply(edge, stored, status, action)
    edge.fence.check("the report record")  # a deposed writer writes no record either
    status = edge.record(stored, status)  # the report record (best effort), then its reference
    if status == stored.status:
        return stored  # nothing changed: no write (and no crash point, which counts writes)
    edge.crash("before-status-write")
    edge.fence.check("the status")
    written = edge.state.write_status(stored, status)
    edge.crash("after-status-write")
    return written


def _apply(
    edge: Edge, stored: StoredRollout, status: RolloutStatus, action: Action
) -> tuple[StoredRollout, RolloutStatus]:
    if isinstance(action, Shift):
        return _shift(edge, stored, status, action)
    if isinstance(action, Deploy):
        edge.crash("before-scale")
        edge.fence.check("a Deployment")
        edge.environments.deploy(action)
        edge.crash("after-scale")
    elif isinstance(action, ScaleEnv):
        edge.crash("before-scale")
        edge.fence.check("a Deployment's scale")
        edge.environments.scale(action.env, action.replicas)
        edge.crash("after-scale")
    elif isinstance(action, SetPreview):
        edge.fence.check("the preview Service")
        edge.environments.set_preview(action.env)
    elif isinstance(action, Emit):
        edge.fence.check("an Event")
        edge.emit(stored, action)
    else:
        edge.notify(stored, action)
    return stored, status


def _shift(
    edge: Edge, stored: StoredRollout, status: RolloutStatus, action: Shift
) -> tuple[StoredRollout, RolloutStatus]:
    nearest = _nearest(edge, action.split)
    with_target = status.model_copy(
        update={
            "traffic": status.traffic.model_copy(
                update={"target": action.split, "nearest": nearest}
            )
        }
    )
    if stored.status.traffic.target != action.split:
        edge.crash("before-target-write")
        edge.fence.check("the traffic target")
        stored = edge.state.write_status(stored, with_target)
    edge.crash("before-router-write")
    edge.fence.check("the traffic split")
    achieved = edge.router.shift(action.split)
    edge.crash("after-router-write")
    applied = with_target.model_copy(
        update={"traffic": with_target.traffic.model_copy(update={"applied": achieved})}
    )
    return stored, applied


def _nearest(edge: Edge, target: TrafficSplit) -> TrafficSplit | None:
    """What the router can give for ``target`` when that is not exactly ``target``."""
    if not isinstance(edge.router, ReplicasRouter):
        return None
    nearest = edge.router.nearest(target)
    return None if same_split(nearest, target) else nearest


def _audit(
    edge: Edge, *, now: datetime, rollout: str, generation: int, action: Action, reason: str
) -> None:
    details = dict(vars(action))
    line = audit_line(
        now=now,
        rollout=rollout,
        generation=generation,
        action=type(action).__name__,
        reason=reason,
        details=details,
    )
    edge.log.append(line)
    audit.info(line)
