"""``decide(observation) -> Decision``: the pure heart of the controller.

Part of the pure ``core``. No I/O, no clock (``now`` is in the observation), no
logging. The prelude handles what every strategy shares — a changed spec mid-rollout, a new
release, abort, settling after a terminal phase, and the phases every strategy goes through
the same way (Verifying, RollingBack) — then the strategy's phase machine runs.
"""

from __future__ import annotations

from datetime import timedelta

from mlrollout.core.actions import ScaleEnv
from mlrollout.core.bluegreen import decide_blue_green
from mlrollout.core.canary import decide_canary
from mlrollout.core.decision import Decision, parse_stamp
from mlrollout.core.observation import Observation
from mlrollout.core.phases import (
    acknowledge,
    decide_rolling_back,
    decide_verifying,
    release_of,
    roll_back_to,
    start,
    start_rollback,
)
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import Intent, Phase, RollbackCause, other_env

__all__ = ["decide"]


def decide(obs: Observation) -> Decision:
    """What to do next for one rollout, and the status to record."""
    status = acknowledge(obs, obs.status)
    if obs.analysis is not None and obs.analysis.record:
        status = status.model_copy(update={"analysis": obs.analysis.record})
    if status.phase.in_flight and status.observed_generation != obs.generation:
        return _restart(obs, status)
    if status.phase is Phase.PENDING or status.release is None:
        return start(obs, status, reason="new rollout: verifying the release")
    if status.phase.terminal:
        return _after_terminal(obs, status)
    if Intent.ABORT in obs.intents:
        return start_rollback(obs, status, cause=RollbackCause.ABORT, reason="aborted by the user")
    if status.phase is Phase.VERIFYING:
        return decide_verifying(obs, status)
    if status.phase is Phase.ROLLING_BACK:
        return decide_rolling_back(obs, status)
    if obs.rollout.spec.strategy.canary is not None:
        return decide_canary(obs, status)
    return decide_blue_green(obs, status)


def _restart(obs: Observation, status: RolloutStatus) -> Decision:
    reason = (
        f"spec changed (generation {obs.generation}); returning all traffic to stable "
        "before starting over"
    )
    if status.phase is Phase.ROLLING_BACK and status.rollback_cause is RollbackCause.RESTART:
        return decide_rolling_back(obs, status)
    return start_rollback(obs, status, cause=RollbackCause.RESTART, reason=reason)


# A settled rollout has nothing to do until its spec or intents change, and the in-cluster
# manager watches those; it is looked at again this often only as a resync. (At 30 s, 1,000
# settled rollouts cost the API server 166 requests a second: README, scale benchmark.)
SETTLED_RESYNC = timedelta(minutes=5)


def _after_terminal(obs: Observation, status: RolloutStatus) -> Decision:
    if status.release != release_of(obs):
        return start(obs, status, reason="new release: verifying it")
    if Intent.RETRY in obs.intents and status.phase.retryable:
        return start(obs, status, reason="retry requested: starting over from the first step")
    if Intent.ROLLBACK in obs.intents and status.phase is Phase.SUCCEEDED:
        return _rollback_to_previous(obs, status)
    settled = status.model_copy(update={"observed_generation": obs.generation})
    return _scale_down_when_due(obs, settled)


def _scale_down_when_due(obs: Observation, status: RolloutStatus) -> Decision:
    """Scale the previous environment down once its warm period is over (never the only
    healthy one)."""
    pending = status.scale_down
    if pending is None:
        return Decision(status=status, requeue_after=SETTLED_RESYNC, reason=status.message)
    due = parse_stamp(pending.at) or obs.now
    if obs.now < due:
        return Decision(
            status=status,
            requeue_after=due - obs.now,
            reason=f"{pending.env} stays warm until {pending.at}",
        )
    live = obs.envs.get(other_env(pending.env))
    if live is None or not live.healthy:
        return Decision(
            status=status,
            requeue_after=timedelta(seconds=30),
            reason=f"not scaling {pending.env} down: it is the only healthy environment",
        )
    done = status.model_copy(update={"scale_down": None})
    return Decision(
        status=done,
        actions=(ScaleEnv(pending.env, 0),),
        reason=f"scaled {pending.env} down after its warm period",
    )


def _rollback_to_previous(obs: Observation, status: RolloutStatus) -> Decision:
    """Switch back to the environment that is still warm from the last promotion."""
    assert status.active_env is not None
    previous = other_env(status.active_env)
    warm = obs.envs.get(previous)
    if status.scale_down is None or warm is None or not warm.healthy:
        why = (
            "it kept no pods after the promotion, or its warm period is over"
            if status.scale_down is None
            else f"it has {warm.ready_replicas if warm else 0} ready pods"
        )
        reason = (
            f"cannot roll back: {previous} is not warm ({why}); roll out the previous release "
            "instead"
        )
        return Decision(status=status.model_copy(update={"message": reason}), reason=reason)
    return roll_back_to(
        obs,
        status,
        previous,
        reason=f"rolling back to the warm environment {previous}",
        requeue_after=timedelta(0),
        active_env=previous,
        candidate_env=status.active_env,
        scale_down=None,
        rollback_cause=RollbackCause.USER,
    )
