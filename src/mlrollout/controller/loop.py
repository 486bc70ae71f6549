"""The reconcile loop for one rollout: observe, decide, apply, write status; repeat.

Part of the ``controller`` layer. ``Reconciler.reconcile`` is one pass; ``drive`` repeats
passes until the rollout settles (used by ``mlrollout promote`` and by tests), sleeping
through the injected clock. A 409 on a status write means someone else wrote: the pass ends
and the next one re-reads and recomputes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from mlrollout.clock import Clock
from mlrollout.controller.effects import Edge, apply_decision
from mlrollout.controller.ports import Analyst, Confirmer, Verifier
from mlrollout.controller.undo import parse_undo
from mlrollout.core.confirmations import compute_due
from mlrollout.core.decide import decide
from mlrollout.core.decision import Decision, stamp
from mlrollout.core.observation import Observation, VerificationOutcome
from mlrollout.errors import ConflictError, DeadlineError, KubeError, RouterError
from mlrollout.kube.rollouts import StoredRollout, pending_intents
from mlrollout.spec.status import Phase, set_condition

__all__ = ["SETTLED", "Reconciler", "drive"]

SETTLED = frozenset(
    {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED, Phase.REFUSED}
)
MAX_SLEEP = timedelta(seconds=5)
RETRY = timedelta(seconds=2)


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
        envs = self.edge.environments.observe()
        try:
            traffic = self.edge.router.observe(status.active_env or "blue")
        except RouterError:
            traffic = None  # unknown split: decide re-applies its target
        verification = None
        if status.phase is Phase.VERIFYING and status.release is not None:
            verification = self._verify(stored)
        look = None
        if self.analyst is not None and status.phase is Phase.PROGRESSING:
            look = self.analyst.look(stored, now_s=self.clock.monotonic())
        due = compute_due(stored.rollout, status)
        confirmations = self.confirmer.confirm(stored, due) if due and self.confirmer else {}
        return Observation(
            rollout=stored.rollout,
            generation=stored.generation,
            now=self.clock.now(),
            envs=envs,
            traffic=traffic,
            verification=verification,
            analysis=look,
            intents=pending_intents(stored),
            confirmations=confirmations,
            undo=parse_undo(stored),
            actor=self.identity,
        )

    def _verify(self, stored: StoredRollout) -> VerificationOutcome:
        release = stored.status.release
        assert release is not None
        key = f"{stored.generation}/{release.image}/{release.model_sha256}"
        if key not in self._verified:
            self._verified[key] = self.verifier.verify(stored)
        return self._verified[key]

    def reconcile(self) -> tuple[StoredRollout, Decision]:
        """One pass; returns the rollout as written and the decision taken."""
        stored = self.edge.state.read()
        decision = decide(self.observe(stored))
        try:
            written = apply_decision(self.edge, stored, decision, now=self.clock.now())
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
        stored = self.edge.state.read()
        status = stored.status
        conditions = set_condition(
            status.conditions,
            type="Progressing",
            status="False",
            reason="ActionFailed",
            message=str(exc)[:1000],
            now=stamp(self.clock.now()),
            generation=stored.generation,
        )
        held = status.model_copy(
            update={"message": f"holding: {exc}"[:1000], "conditions": conditions}
        )
        try:
            return self.edge.state.write_status(stored, held)
        except KubeError:
            return stored


def drive(
    reconciler: Reconciler,
    *,
    timeout: timedelta,
    until: Callable[[StoredRollout], bool] = lambda s: s.status.phase in SETTLED,
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
