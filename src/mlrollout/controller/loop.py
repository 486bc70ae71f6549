"""The reconcile loop for one rollout: observe, decide, apply, write status; repeat.

Part of the ``controller`` layer. ``Reconciler.reconcile`` is one pass; ``drive`` repeats
passes until the rollout settles (used by ``mlrollout promote`` and by tests), sleeping
through the injected clock. A 409 on a status write means someone else wrote: the pass ends
and the next one re-reads and recomputes.

Intents first: while an abort, pause or rollback is pending, a failure to observe the gates,
the judge or the gating webhooks does not stop the pass — the part is left out of the
observation and ``decide`` acts on the intent. Without such an intent the error propagates
to the manager's containment boundary (``containment``), which holds the rollout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from mlrollout.clock import Clock
from mlrollout.controller.effects import Edge, apply_decision
from mlrollout.controller.ports import Analyst, Confirmer, Verifier
from mlrollout.controller.undo import parse_undo
from mlrollout.core.confirmations import compute_due
from mlrollout.core.decide import decide
from mlrollout.core.decision import Decision, stamp
from mlrollout.core.observation import Observation, VerificationOutcome
from mlrollout.errors import ConflictError, DeadlineError, KubeError, LeaseLostError, RouterError
from mlrollout.kube.rollouts import StoredRollout, pending_intents
from mlrollout.redaction import redact
from mlrollout.spec.status import Intent, Phase, set_condition

__all__ = ["Reconciler", "drive"]

MAX_SLEEP = timedelta(seconds=5)
RETRY = timedelta(seconds=2)
INTENTS_FIRST = frozenset({Intent.ABORT, Intent.PAUSE, Intent.ROLLBACK})
"""Intents acted on even when observing the gates, the judge or the webhooks fails."""

log = logging.getLogger("mlrollout.controller")
_T = TypeVar("_T")


@dataclass
class Reconciler:
    """One rollout's observe → decide → apply pass."""

    edge: Edge
    verifier: Verifier
    clock: Clock
    analyst: Analyst | None = None
    confirmer: Confirmer | None = None
    identity: str | None = None  # who drives: the controller Lease holder's identity
    _verified: dict[str, VerificationOutcome] = field(default_factory=dict)

    def observe(self, stored: StoredRollout) -> Observation:
        """Build the snapshot ``decide`` needs."""
        status = stored.status
        intents = pending_intents(stored)
        envs = self.edge.environments.observe()
        try:
            traffic = self.edge.router.observe(status.active_env or "blue")
        except RouterError:
            traffic = None  # unknown split: decide re-applies its target
        tolerant = _Tolerant(stored, urgent=bool(INTENTS_FIRST & intents.keys()))
        verification = None
        if status.phase is Phase.VERIFYING and status.release is not None:
            verification = tolerant(lambda: self._verify(stored), "the gates")
        look = None
        if self.analyst is not None and status.phase is Phase.PROGRESSING:
            analyst = self.analyst
            look = tolerant(
                lambda: analyst.look(stored, now_s=self.clock.monotonic()), "the analysis"
            )
        undo = parse_undo(stored)
        skip = undo is not None and undo.skip_analysis
        due = compute_due(stored.rollout, status, intents, skip_analysis=skip)
        confirmations: dict[str, tuple[bool, str]] = {}
        if due and self.confirmer is not None:
            confirmer = self.confirmer
            confirmations = tolerant(lambda: confirmer.confirm(stored, due), "the webhooks") or {}
        return Observation(
            rollout=stored.rollout,
            generation=stored.generation,
            now=self.clock.now(),
            envs=envs,
            traffic=traffic,
            verification=verification,
            analysis=look,
            intents=intents,
            confirmations=confirmations,
            undo=undo,
            actor=self.identity,
        )

    def _verify(self, stored: StoredRollout) -> VerificationOutcome:
        release = stored.status.release
        assert release is not None
        # Keyed by the time verification began: a retry (a new VERIFYING phase) verifies
        # again instead of reusing an earlier refusal; a refusal is never cached.
        key = (
            f"{stored.generation}/{release.image}/{release.model_sha256}/"
            f"{stored.status.phase_started_at}"
        )
        if key not in self._verified:
            outcome = self.verifier.verify(stored)
            if not outcome.passed:
                return outcome
            self._verified = {key: outcome}
        return self._verified[key]

    def reconcile(self, current: StoredRollout | None = None) -> tuple[StoredRollout, Decision]:
        """One pass from ``current`` (the rollout as just read; read here when None);
        returns the rollout as written and the decision taken."""
        stored = (
            current
            if current is not None
            else self.edge.state.read(self.edge.namespace, self.edge.name)
        )
        decision = decide(self.observe(stored))
        try:
            written = apply_decision(self.edge, stored, decision, now=self.clock.now())
        except LeaseLostError:
            raise  # fenced: write nothing more, not even a holding condition
        except ConflictError:
            return stored, Decision(
                status=stored.status,
                requeue_after=timedelta(0),
                reason="status changed underneath; re-reading",
            )
        except (RouterError, KubeError) as exc:
            # The action did not land; the split in force stays defined. Hold and retry.
            return self._hold(exc), Decision(
                status=stored.status, requeue_after=RETRY, reason=f"holding: {exc}"
            )
        return written, decision

    def _hold(self, exc: Exception) -> StoredRollout:
        """Record why the rollout is holding (best effort) and return it as stored."""
        stored = self.edge.state.read(self.edge.namespace, self.edge.name)
        status = stored.status
        text = redact(str(exc))
        conditions = set_condition(
            status.conditions,
            type="Progressing",
            status="False",
            reason="ActionFailed",
            message=text[:1000],
            now=stamp(self.clock.now()),
            generation=stored.generation,
        )
        held = status.model_copy(
            update={"message": f"holding: {text}"[:1000], "conditions": conditions}
        )
        try:
            self.edge.fence.check("a holding condition")
            return self.edge.state.write_status(stored, held)
        except KubeError:
            return stored


class _Tolerant:
    """Runs one observation; with an urgent intent pending, a failure leaves it out."""

    def __init__(self, stored: StoredRollout, *, urgent: bool) -> None:
        self.stored = stored
        self.urgent = urgent

    def __call__(self, observe: Callable[[], _T], what: str) -> _T | None:
        if not self.urgent:
            return observe()
        try:
            return observe()
        except Exception as exc:  # the intent is acted on whatever observing raised
            rollout = self.stored.rollout
            log.warning(
                "%s/%s: acting on the pending intent without %s: %s",
                rollout.namespace,
                rollout.name,
                what,
                redact(f"{type(exc).__name__}: {exc}"),
            )
            return None


def drive(
    reconciler: Reconciler,
    *,
    timeout: timedelta,
    until: Callable[[StoredRollout], bool] = lambda s: s.status.phase.terminal,
    on_pass: Callable[[StoredRollout, Decision], None] = lambda s, d: None,
) -> StoredRollout:
    """Reconcile until ``until`` holds; ``DeadlineError`` after ``timeout``."""
    clock = reconciler.clock
    deadline = clock.monotonic() + timeout.total_seconds()
    while True:
        stored, decision = reconciler.reconcile()
        on_pass(stored, decision)
        if until(stored):
            return stored
        if clock.monotonic() >= deadline:
            raise DeadlineError(
                f"rollout still {stored.status.phase.value} after {timeout}: "
                f"{stored.status.message}"
            )
        wait = min(decision.requeue_after or MAX_SLEEP, MAX_SLEEP)
        clock.sleep(wait.total_seconds())
