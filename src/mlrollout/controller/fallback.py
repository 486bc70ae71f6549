"""What a rollout whose passes keep failing falls back to: its policy's ``onErrorLimit``.

Part of the ``controller`` layer, called by the ``manager`` after the containment boundary
(``containment``) recorded a failure. A pass that fails holds the traffic where it is; once
``analysis.consecutiveErrorLimit`` passes in a row have failed for a reason that is not
transient, a rollout with traffic on its candidate is rolled back (``onErrorLimit:
rollback``, the default) or paused (``pause``), as it would be for a provider outage.
``decide_error_fallback`` is pure; ``apply_error_fallback`` observes only what the move
needs (environments and router, never the provider, gates or webhooks that may be failing)
and applies it through the same fenced effects as any pass.
"""

from __future__ import annotations

from mlrollout.controller.effects import apply_decision
from mlrollout.controller.loop import Reconciler
from mlrollout.core.decision import Decision
from mlrollout.core.observation import Observation
from mlrollout.core.phases import pause, start_rollback
from mlrollout.errors import RouterError
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec import RolloutStatus
from mlrollout.spec.policy import OnErrorLimit
from mlrollout.spec.status import Phase, RollbackCause

__all__ = ["apply_error_fallback", "decide_error_fallback"]

_WITH_TRAFFIC = frozenset({Phase.PROGRESSING, Phase.PAUSED})


def decide_error_fallback(
    obs: Observation, status: RolloutStatus, *, failures: int, cause: str
) -> Decision | None:
    """The rollback or pause the policy asks for after ``failures`` failed passes, or None."""
    policy = obs.rollout.spec.analysis
    if policy is None or failures < policy.consecutive_error_limit:
        return None
    if status.phase not in _WITH_TRAFFIC:
        return None
    reason = (
        f"{failures} passes failed in a row (analysis.onErrorLimit: "
        f"{policy.on_error_limit.value}): {cause}"
    )
    if policy.on_error_limit is OnErrorLimit.ROLLBACK:
        return start_rollback(obs, status, cause=RollbackCause.ANALYSIS, reason=reason)
    if status.phase is Phase.PROGRESSING:
        return pause(obs, status, reason, warning=True)
    return None


def apply_error_fallback(
    reconciler: Reconciler, *, failures: int, cause: str
) -> StoredRollout | None:
    """Apply the fallback for a rollout whose passes keep failing; None when none is due."""
    edge = reconciler.edge
    stored = edge.state.read(edge.namespace, edge.name)
    status = stored.status
    try:
        traffic = edge.router.observe(status.active_env or "blue")
    except RouterError:
        traffic = None
    obs = Observation(
        rollout=stored.rollout,
        generation=stored.generation,
        now=reconciler.clock.now(),
        envs=edge.environments.observe(),
        traffic=traffic,
    )
    decision = decide_error_fallback(obs, status, failures=failures, cause=cause)
    if decision is None:
        return None
    return apply_decision(edge, stored, decision, now=obs.now)
