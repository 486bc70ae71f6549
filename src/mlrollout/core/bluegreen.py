"""``decide`` for the blue-green strategy: preview, pre-promotion analysis, switch, post-analysis.

Part of the pure ``core``. Step 0 is the preview (candidate behind the preview
Service, optional pre-promotion analysis); step 1 is the post-promotion analysis after the
switch. Until the rollout succeeds the old environment stays ``active_env``, so a rollback
at any point is one switch back to it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from mlrollout.core.actions import SetPreview
from mlrollout.core.confirmations import awaiting
from mlrollout.core.decision import (
    Decision,
    stamp,
    transition,
)
from mlrollout.core.observation import Observation
from mlrollout.core.phases import (
    analysis_interval,
    begin_promotion,
    current_look,
    decide_deploying,
    hold,
    moving_to_candidate,
    pause,
    resume,
    start_rollback,
    succeed,
)
from mlrollout.core.revisions import skipping_analysis
from mlrollout.model.analysis import AnalysisDecision
from mlrollout.spec import RolloutStatus
from mlrollout.spec.policy import WebhookType
from mlrollout.spec.status import Intent, Phase, RollbackCause
from mlrollout.spec.strategy import BlueGreenStrategy

__all__ = ["decide_blue_green"]

PREVIEW, POST = 0, 1


def decide_blue_green(obs: Observation, status: RolloutStatus) -> Decision:
    """The blue-green phase machine (after the shared prelude in ``decide``)."""
    if status.phase is Phase.DEPLOYING:
        return _with_preview(obs, decide_deploying(obs, status, first_step=Phase.PROGRESSING))
    if status.phase is Phase.PROMOTING:
        return _switching(obs, status)
    if status.phase is Phase.PAUSED:
        return _paused(obs, status)
    if status.phase is Phase.PROGRESSING:
        return _progressing(obs, status)
    return Decision(status=status, reason=status.message)


def _with_preview(obs: Observation, decision: Decision) -> Decision:
    """Point the preview Service at the candidate as the preview step begins."""
    status = decision.status
    if status.phase is not Phase.PROGRESSING or not _strategy(obs).preview_service:
        return decision
    assert status.candidate_env is not None
    return replace(decision, actions=(SetPreview(status.candidate_env), *decision.actions))


def _strategy(obs: Observation) -> BlueGreenStrategy:
    blue_green = obs.rollout.spec.strategy.blue_green
    assert blue_green is not None
    return blue_green


def _progressing(obs: Observation, status: RolloutStatus) -> Decision:
    step = status.current_step or PREVIEW
    if Intent.PAUSE in obs.intents:
        reason = "paused by the user"
        return pause(obs, status, reason)
    if step == PREVIEW:
        return _preview(obs, status)
    return _post_promotion(obs, status)


def _preview(obs: Observation, status: RolloutStatus) -> Decision:
    strategy = _strategy(obs)
    assert status.candidate_env is not None
    preview = (SetPreview(status.candidate_env),) if strategy.preview_service else ()
    if Intent.PROMOTE in obs.intents or Intent.PROMOTE_FULL in obs.intents:
        return _begin_switch(obs, status, reason="promoted by the user")
    if strategy.pre_promotion_analysis is not None:
        outcome = _judged(obs, status, PREVIEW)
        if outcome is not None:
            return outcome
        if not _analysis_promoted(obs, PREVIEW):
            return Decision(
                status=status,
                actions=preview,
                requeue_after=analysis_interval(obs),
                reason="pre-promotion analysis running",
            )
    if not strategy.auto_promotion_enabled:
        reason = "preview ready; waiting for `mlrollout promote`"
        paused = pause(obs, status, reason)
        return replace(paused, actions=(*preview, *paused.actions))
    delay = strategy.auto_promotion_delay or timedelta(0)
    started = status.step_started_at or obs.now
    if obs.now < started + delay:
        return Decision(
            status=status,
            actions=preview,
            requeue_after=started + delay - obs.now,
            reason=f"auto-promotion after {delay}",
        )
    waiting = awaiting(obs, WebhookType.CONFIRM_PROMOTION)
    if waiting is not None:
        return hold(status, waiting)
    return _begin_switch(obs, status, reason="preview passed; switching traffic")


def _analysis_promoted(obs: Observation, step: int) -> bool:
    look = current_look(obs, step)
    return look is not None and look.decision is AnalysisDecision.PROMOTE


def _judged(obs: Observation, status: RolloutStatus, step: int) -> Decision | None:
    """A rollback or pause from the analysis of ``step``; None to go on."""
    look = current_look(obs, step)
    if look is None or look.decision in (AnalysisDecision.CONTINUE, AnalysisDecision.PROMOTE):
        return None
    if look.decision is AnalysisDecision.ROLLBACK:
        return start_rollback(obs, status, cause=RollbackCause.ANALYSIS, reason=look.reason)
    return pause(obs, status, look.reason, warning=True)


def _begin_switch(obs: Observation, status: RolloutStatus, *, reason: str) -> Decision:
    return begin_promotion(obs, status, reason=reason, action="switch")


def _switching(obs: Observation, status: RolloutStatus) -> Decision:
    moving = moving_to_candidate(obs, status)
    if moving is not None:
        return moving
    if _strategy(obs).post_promotion_analysis is None or skipping_analysis(obs):
        return _succeed(obs, status, reason=f"switched to {status.candidate_env}")
    reason = f"switched to {status.candidate_env}; post-promotion analysis running"
    return transition(
        status,
        Phase.PROGRESSING,
        now=obs.now,
        action="post-analysis",
        reason=reason,
        requeue_after=analysis_interval(obs),
        current_step=POST,
        step_started_at=stamp(obs.now),
    )


def _post_promotion(obs: Observation, status: RolloutStatus) -> Decision:
    outcome = _judged(obs, status, POST)
    if outcome is not None:
        return outcome
    if _analysis_promoted(obs, POST) or Intent.PROMOTE in obs.intents:
        return _succeed(obs, status, reason="post-promotion analysis passed")
    return Decision(
        status=status,
        requeue_after=analysis_interval(obs),
        reason="post-promotion analysis running",
    )


def _paused(obs: Observation, status: RolloutStatus) -> Decision:
    step = status.current_step or PREVIEW
    if Intent.PROMOTE in obs.intents or Intent.PROMOTE_FULL in obs.intents:
        if step == PREVIEW:
            return _begin_switch(obs, status, reason="promoted by the user")
        return _succeed(obs, status, reason="promoted by the user")
    if Intent.RESUME in obs.intents:
        return resume(obs, status)
    return Decision(status=status, reason=status.message)


def _succeed(obs: Observation, status: RolloutStatus, *, reason: str) -> Decision:
    return succeed(obs, status, reason=reason, keep_warm=_strategy(obs).scale_down_delay)
