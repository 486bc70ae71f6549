"""``decide`` for the canary strategy: steps of setWeight / analyze / pause, then promote.

Part of the pure ``core``. One flat chain of early returns per phase. Evidence
is carried across the steps of one build (the loop keeps one judge per release); a failed
verdict rolls back at once; a promote verdict advances to the next step.
"""

from __future__ import annotations

from datetime import timedelta

from mlrollout.core.actions import Shift
from mlrollout.core.confirmations import awaiting
from mlrollout.core.decision import (
    Decision,
    split_to,
    stamp,
    transition,
)
from mlrollout.core.observation import Observation
from mlrollout.core.phases import (
    QUICK,
    analysis_interval,
    begin_promotion,
    candidate_ready,
    current_look,
    decide_deploying,
    hold,
    moving_to_candidate,
    pause,
    reached,
    resume,
    start_rollback,
    succeed,
    wait_for_candidate,
)
from mlrollout.model.analysis import AnalysisDecision
from mlrollout.spec import RolloutStatus
from mlrollout.spec.policy import WebhookType
from mlrollout.spec.status import Intent, Phase, RollbackCause
from mlrollout.spec.strategy import CanaryStrategy, Step

__all__ = ["decide_canary"]

CANARY_SCALE_DOWN_DELAY = timedelta(seconds=30)


def decide_canary(obs: Observation, status: RolloutStatus) -> Decision:
    """The canary phase machine (after the shared prelude in ``decide``)."""
    if status.phase is Phase.DEPLOYING:
        return decide_deploying(obs, status, first_step=Phase.PROGRESSING)
    if status.phase is Phase.PROMOTING:
        return _promoting(obs, status)
    if status.phase is Phase.PAUSED:
        return _paused(obs, status)
    if status.phase is Phase.PROGRESSING:
        return _progressing(obs, status)
    return Decision(status=status, reason=status.message)


def _strategy(obs: Observation) -> CanaryStrategy:
    canary = obs.rollout.spec.strategy.canary
    assert canary is not None
    return canary


def _progressing(obs: Observation, status: RolloutStatus) -> Decision:
    if Intent.PROMOTE_FULL in obs.intents:
        return _begin_promotion(obs, status, reason="full promotion requested")
    if Intent.PAUSE in obs.intents:
        reason = "paused by the user"
        return pause(obs, status, reason)
    steps = _strategy(obs).steps
    index = status.current_step or 0
    if index >= len(steps):
        waiting = awaiting(obs, WebhookType.CONFIRM_PROMOTION)
        if waiting is not None:
            return hold(status, waiting)
        return _begin_promotion(obs, status, reason="all steps passed")
    if Intent.PROMOTE in obs.intents:
        return _advance(obs, status, reason=f"step {index} skipped by `mlrollout promote`")
    if status.candidate_env is not None and not candidate_ready(obs, status):
        return _candidate_lost(obs, status)
    step = steps[index]
    if step.weight_bp is not None:
        return _set_weight(obs, status, step.weight_bp)
    if step.analyze is not None:
        return _analyze(obs, status, index)
    return _pause_step(obs, status, step)


def _candidate_lost(obs: Observation, status: RolloutStatus) -> Decision:
    return wait_for_candidate(
        obs,
        status,
        since=status.step_started_at,
        late=f"{status.candidate_env} lost its ready replicas for longer than",
        waiting=f"holding: {status.candidate_env} has no ready replicas",
    )


def _set_weight(obs: Observation, status: RolloutStatus, canary_bp: int) -> Decision:
    assert status.active_env is not None
    target = split_to(status.active_env, canary_bp)
    weight = target.canary_percent
    if reached(obs, target):
        return _advance(obs, status, reason=f"{weight:g}% of traffic on {status.candidate_env}")
    waiting = awaiting(obs, WebhookType.CONFIRM_TRAFFIC_INCREASE)
    if waiting is not None:
        return hold(status, waiting)
    shifting = status.model_copy(
        update={
            "traffic": status.traffic.model_copy(update={"target": target}),
            "message": f"shifting {weight:g}% of traffic to {status.candidate_env}",
        }
    )
    return Decision(
        status=shifting, actions=(Shift(target),), requeue_after=QUICK, reason=shifting.message
    )


def _analyze(obs: Observation, status: RolloutStatus, index: int) -> Decision:
    look = current_look(obs, index)
    interval = analysis_interval(obs)
    if look is None or look.decision is AnalysisDecision.CONTINUE:
        reason = look.reason if look is not None else "analysis started"
        return Decision(
            status=status.model_copy(update={"message": reason}),
            requeue_after=interval,
            reason=reason,
        )
    if look.decision is AnalysisDecision.ROLLBACK:
        return start_rollback(obs, status, cause=RollbackCause.ANALYSIS, reason=look.reason)
    if look.decision is AnalysisDecision.PROMOTE:
        return _advance(obs, status, reason=look.reason)
    return pause(obs, status, look.reason, warning=True)


def _pause_step(obs: Observation, status: RolloutStatus, step: Step) -> Decision:
    assert step.pause is not None
    duration = step.pause.duration
    if duration is None:
        reason = f"paused at step {status.current_step} until `mlrollout promote`"
        return pause(obs, status, reason)
    started = status.step_started_at or obs.now
    remaining = started + duration - obs.now
    if remaining <= timedelta(0):
        return _advance(obs, status, reason=f"pause of {duration} elapsed")
    return Decision(
        status=status,
        requeue_after=remaining,
        reason=f"pausing for {duration} at step {status.current_step}",
    )


def _paused(obs: Observation, status: RolloutStatus) -> Decision:
    if Intent.PROMOTE_FULL in obs.intents:
        return _begin_promotion(obs, status, reason="full promotion requested")
    if Intent.PROMOTE in obs.intents:
        return _advance(obs, status, reason="promoted by the user")
    if Intent.RESUME in obs.intents:
        return resume(obs, status)
    return Decision(status=status, reason=status.message)


def _advance(obs: Observation, status: RolloutStatus, *, reason: str) -> Decision:
    index = (status.current_step or 0) + 1
    return transition(
        status,
        Phase.PROGRESSING,
        now=obs.now,
        action="advance",
        reason=reason,
        requeue_after=timedelta(0),
        current_step=index,
        step_started_at=stamp(obs.now),
    )


def _begin_promotion(obs: Observation, status: RolloutStatus, *, reason: str) -> Decision:
    return begin_promotion(obs, status, reason=reason, action="promote")


def _promoting(obs: Observation, status: RolloutStatus) -> Decision:
    moving = moving_to_candidate(obs, status)
    if moving is not None:
        return moving
    return succeed(
        obs,
        status,
        reason=f"promoted: {status.candidate_env} serves all traffic",
        keep_warm=CANARY_SCALE_DOWN_DELAY,
    )
