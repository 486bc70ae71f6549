"""Transitions shared by every strategy: start, verify, deploy, roll back, intents.

Part of the pure ``core``. Each function takes the observation (and the status
being built) and returns a ``Decision``; the strategy modules call them from their flat
chains of early returns.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mlrollout.core.actions import Action, Deploy, ScaleEnv, Shift
from mlrollout.core.confirmations import awaiting
from mlrollout.core.decision import (
    Decision,
    split_to,
    stamp,
    transition,
)
from mlrollout.core.observation import AnalysisLook, Observation
from mlrollout.core.revisions import record_revision, skipping_analysis
from mlrollout.model.analysis import AnalysisDecision, InconclusivePolicy
from mlrollout.spec import RolloutStatus
from mlrollout.spec.policy import WebhookType
from mlrollout.spec.status import (
    TOTAL_BASIS_POINTS,
    EnvName,
    Phase,
    RollbackCause,
    ScaleDown,
    StatusRelease,
    TrafficSplit,
    VerificationStatus,
    other_env,
)
from mlrollout.spec.strategy import RouterKind

__all__ = [
    "QUICK",
    "acknowledge",
    "active_env",
    "analysis_interval",
    "begin_promotion",
    "candidate_ready",
    "current_look",
    "decide_deploying",
    "decide_rolling_back",
    "decide_verifying",
    "hold",
    "moving_to_candidate",
    "past_deadline",
    "pause",
    "reached",
    "release_of",
    "resume",
    "roll_back_past_deadline",
    "roll_back_to",
    "same_split",
    "start",
    "start_rollback",
    "succeed",
    "wait_for_candidate",
]

QUICK = timedelta(seconds=1)
HOLD = timedelta(seconds=10)
ROLLBACK_POLL = timedelta(milliseconds=200)
_FINAL_PHASE = {
    RollbackCause.ANALYSIS: Phase.ROLLED_BACK,
    RollbackCause.USER: Phase.ROLLED_BACK,
    RollbackCause.ABORT: Phase.ABORTED,
    RollbackCause.DEADLINE: Phase.FAILED,
}


def release_of(obs: Observation) -> StatusRelease:
    """The release the spec asks for."""
    release = obs.rollout.spec.release
    return StatusRelease(
        image=release.image, model_uri=release.model.uri, model_sha256=release.model.sha256
    )


def active_env(obs: Observation) -> EnvName:
    """The live environment: as recorded, else where traffic goes, else blue."""
    if obs.status.active_env is not None:
        return obs.status.active_env
    if obs.traffic is not None:
        return (
            obs.traffic.canary_env
            if obs.traffic.canary_bp == TOTAL_BASIS_POINTS
            else obs.traffic.stable_env
        )
    return "blue"


def weights(split: TrafficSplit) -> dict[str, int]:
    """Per-environment basis points (two splits are the same when these are)."""
    return {split.stable_env: split.stable_bp, split.canary_env: split.canary_bp}


def same_split(a: TrafficSplit | None, b: TrafficSplit | None) -> bool:
    """Whether two splits send the same share to each environment."""
    if a is None or b is None:
        return False
    return weights(a) == weights(b)


def reached(obs: Observation, target: TrafficSplit) -> bool:
    """The target is in force: recorded as applied for this target and still observed.

    When the router cannot give the target exactly (the replicas router with few pods), the
    nearest split it can give, recorded as ``traffic.nearest``, counts as the target.
    """
    traffic = obs.status.traffic
    if not same_split(traffic.target, target):
        return False
    goal = traffic.nearest or target
    return same_split(traffic.applied, goal) and same_split(obs.traffic, goal)


def acknowledge(obs: Observation, status: RolloutStatus) -> RolloutStatus:
    """Record every pending intent as handled (those that do not apply are ignored)."""
    if not obs.intents:
        return status
    acks = dict(status.acknowledged_intents)
    acks.update({intent.value: value for intent, value in obs.intents.items()})
    return status.model_copy(update={"acknowledged_intents": acks})


def start(obs: Observation, status: RolloutStatus, *, reason: str) -> Decision:
    """Begin a rollout of the spec's release: candidate is the idle environment."""
    active = status.active_env or active_env(obs)
    release = release_of(obs)
    live = obs.envs.get(active)
    base = status.model_copy(
        update={
            "verification": None,
            "rollback_cause": None,
            "scale_down": None,
            "current_step": None,
            "step_started_at": None,
        }
    )
    if live is not None and live.healthy and live.runs(release.image, release.model_sha256):
        return transition(
            base,
            Phase.SUCCEEDED,
            now=obs.now,
            action="adopt",
            reason=f"{active} already runs this release; nothing to roll out",
            release=release,
            active_env=active,
            candidate_env=other_env(active),
            observed_generation=obs.generation,
        )
    return transition(
        base,
        Phase.VERIFYING,
        now=obs.now,
        action="verify",
        reason=reason,
        requeue_after=QUICK,
        release=release,
        active_env=active,
        candidate_env=other_env(active),
        observed_generation=obs.generation,
    )


def decide_verifying(obs: Observation, status: RolloutStatus) -> Decision:
    """Wait for the gates; deploy when they pass, refuse (changing nothing) when not."""
    release = status.release
    assert release is not None
    outcome = obs.verification
    if outcome is None or outcome.image != release.image:
        return Decision(status=status, requeue_after=QUICK, reason="waiting for the gates")
    verification = VerificationStatus(
        image=outcome.image,
        verified=outcome.passed,
        reason_code=outcome.reason_code,
        message=outcome.message,
        checked_at=stamp(obs.now),
    )
    if not outcome.passed:
        reason = f"refused by a gate: {outcome.reason_code}: {outcome.message}"
        return transition(
            status,
            Phase.REFUSED,
            now=obs.now,
            action="refuse",
            reason=reason,
            announced=True,
            warning=True,
            verification=verification,
        )
    candidate = status.candidate_env
    assert candidate is not None
    reason = f"gates passed; deploying the release to {candidate}"
    return transition(
        status,
        Phase.DEPLOYING,
        now=obs.now,
        action="deploy",
        reason=reason,
        actions=(_deploy(obs, status),),
        requeue_after=QUICK,
        verification=verification,
    )


def _deploy(obs: Observation, status: RolloutStatus) -> Deploy:
    release, candidate, active = status.release, status.candidate_env, status.active_env
    assert release is not None
    assert candidate is not None
    assert active is not None
    router = obs.rollout.spec.strategy.traffic.router
    live = obs.envs.get(active)
    # With replica-weighted routing every ready candidate pod takes traffic: start at zero.
    replicas = 0 if router is RouterKind.REPLICAS else max(1, live.replicas if live else 1)
    return Deploy(
        env=candidate,
        image=release.image,
        model_uri=release.model_uri,
        model_sha256=release.model_sha256,
        replicas=replicas,
    )


def candidate_ready(obs: Observation, status: RolloutStatus) -> bool:
    """The candidate runs the release and is rolled out (ready, unless scaled to zero)."""
    release, candidate = status.release, status.candidate_env
    assert release is not None
    assert candidate is not None
    env = obs.envs.get(candidate)
    if env is None or not env.runs(release.image, release.model_sha256) or not env.rolled_out:
        return False
    return env.replicas == 0 or env.ready_replicas > 0


def decide_deploying(obs: Observation, status: RolloutStatus, *, first_step: Phase) -> Decision:
    """Wait for the candidate to be ready, within the progress deadline."""
    if candidate_ready(obs, status):
        waiting = awaiting(obs, WebhookType.CONFIRM_ROLLOUT, WebhookType.PRE_ROLLOUT)
        if waiting is not None:
            return _hold_or_fail(obs, status, waiting)
        if skipping_analysis(obs):
            assert obs.undo is not None
            reason = (
                f"{status.candidate_env} is ready; undo to revision {obs.undo.revision} "
                "with --skip-analysis: straight to full weight"
            )
            return begin_promotion(obs, status, reason=reason, action="promote")
        reason = f"{status.candidate_env} is ready"
        return transition(
            status,
            first_step,
            now=obs.now,
            action="start",
            reason=reason,
            announced=True,
            requeue_after=QUICK,
            current_step=0,
            step_started_at=stamp(obs.now),
        )
    return wait_for_candidate(
        obs,
        status,
        since=status.phase_started_at,
        late=f"{status.candidate_env} not ready within",
        waiting=f"waiting for {status.candidate_env} to be ready",
        actions=(_deploy(obs, status),),
    )


def wait_for_candidate(
    obs: Observation,
    status: RolloutStatus,
    *,
    since: datetime | None,
    late: str,
    waiting: str,
    actions: tuple[Action, ...] = (),
) -> Decision:
    """Look again soon while the candidate is not ready (``waiting`` says so); once the
    progress deadline has passed since ``since``, roll back (``late``, as in
    :func:`roll_back_past_deadline`)."""
    rollback = roll_back_past_deadline(obs, status, since=since, reason=late)
    if rollback is not None:
        return rollback
    return Decision(status=status, actions=actions, requeue_after=QUICK * 2, reason=waiting)


def analysis_interval(obs: Observation) -> timedelta:
    """How long to wait between analysis looks: the policy's interval, else 30 quick polls."""
    policy = obs.rollout.spec.analysis
    return policy.interval if policy is not None else QUICK * 30


def hold(status: RolloutStatus, reason: str) -> Decision:
    """Stay in the phase, saying why, and look again soon."""
    return Decision(
        status=status.model_copy(update={"message": reason}), requeue_after=HOLD, reason=reason
    )


def past_deadline(obs: Observation, since: datetime | None) -> bool:
    """Whether the progress deadline has passed since the stored time ``since``."""
    started = since or obs.now
    return obs.now - started > obs.rollout.spec.progress_deadline


def roll_back_past_deadline(
    obs: Observation, status: RolloutStatus, *, since: datetime | None, reason: str
) -> Decision | None:
    """The rollback once the progress deadline has passed since ``since`` (None before):
    ``reason`` says what did not happen, ending in the words before "the progress deadline"."""
    if not past_deadline(obs, since):
        return None
    deadline = obs.rollout.spec.progress_deadline
    return start_rollback(
        obs,
        status,
        cause=RollbackCause.DEADLINE,
        reason=f"{reason} the progress deadline ({deadline})",
    )


def _hold_or_fail(obs: Observation, status: RolloutStatus, reason: str) -> Decision:
    """Hold for a confirmation until the progress deadline; then give the release up."""
    late = roll_back_past_deadline(
        obs, status, since=status.phase_started_at, reason=f"{reason} within"
    )
    return late if late is not None else hold(status, reason)


def start_rollback(
    obs: Observation, status: RolloutStatus, *, cause: RollbackCause, reason: str
) -> Decision:
    """All traffic back to stable now (same pass: the rollback must not wait a requeue)."""
    active = status.active_env or active_env(obs)
    return roll_back_to(
        obs,
        status,
        active,
        reason=reason,
        announced=True,
        warning=True,
        requeue_after=ROLLBACK_POLL,
        rollback_cause=cause,
    )


def roll_back_to(
    obs: Observation, status: RolloutStatus, env: EnvName, *, reason: str, **options: Any
) -> Decision:
    """Enter RollingBack with all traffic going to ``env`` (the shift persisted as the
    target first); ``options`` as :func:`transition` takes them."""
    target = split_to(env, 0)
    return transition(
        status,
        Phase.ROLLING_BACK,
        now=obs.now,
        action="rollback",
        reason=reason,
        actions=(Shift(target),),
        traffic=status.traffic.model_copy(update={"target": target}),
        **options,
    )


def decide_rolling_back(obs: Observation, status: RolloutStatus) -> Decision:
    """Keep shifting until stable has everything; then scale the candidate down."""
    active = status.active_env or active_env(obs)
    target = split_to(active, 0)
    if not reached(obs, target):
        return Decision(
            status=status,
            actions=(Shift(target),),
            requeue_after=ROLLBACK_POLL,
            reason="returning traffic to stable",
        )
    cause = status.rollback_cause or RollbackCause.ANALYSIS
    candidate = status.candidate_env or other_env(active)
    if cause is RollbackCause.RESTART:
        restarted = start(obs, status, reason="spec changed: starting over from the first step")
        return Decision(
            status=restarted.status,
            actions=(ScaleEnv(candidate, 0), *restarted.actions),
            requeue_after=restarted.requeue_after,
            reason=restarted.reason,
        )
    phase = _FINAL_PHASE[cause]
    reason = status.message or "rolled back"
    return transition(
        status,
        phase,
        now=obs.now,
        action="rolled-back",
        reason=reason,
        actions=(ScaleEnv(candidate, 0),),
        announced=True,
        warning=True,
    )


def begin_promotion(
    obs: Observation, status: RolloutStatus, *, reason: str, action: str
) -> Decision:
    """Enter Promoting: all traffic to the candidate (persisted as the target first).

    Every promotion path comes here (last step, ``promote --full``, blue-green switch), so
    a configured confirm-promotion webhook holds each of them until it answers 2xx.
    """
    waiting = awaiting(obs, WebhookType.CONFIRM_PROMOTION)
    if waiting is not None:
        return hold(status, waiting)
    assert status.active_env is not None
    target = split_to(status.active_env, TOTAL_BASIS_POINTS)
    return transition(
        status,
        Phase.PROMOTING,
        now=obs.now,
        action=action,
        reason=reason,
        actions=(Shift(target),),
        requeue_after=QUICK,
        traffic=status.traffic.model_copy(update={"target": target}),
    )


def moving_to_candidate(obs: Observation, status: RolloutStatus) -> Decision | None:
    """Keep shifting everything to the candidate; None once it serves all traffic."""
    assert status.active_env is not None
    target = split_to(status.active_env, TOTAL_BASIS_POINTS)
    if reached(obs, target):
        return None
    return Decision(
        status=status,
        actions=(Shift(target),),
        requeue_after=QUICK,
        reason=f"moving all traffic to {status.candidate_env}",
    )


def succeed(
    obs: Observation, status: RolloutStatus, *, reason: str, keep_warm: timedelta
) -> Decision:
    """The candidate is the live environment now; the old one stays warm for a while."""
    assert status.active_env is not None
    assert status.candidate_env is not None
    old, new = status.active_env, status.candidate_env
    normal = split_to(new, 0)
    previous = obs.envs.get(old)
    warm = previous is not None and previous.replicas > 0
    # The replicas router moves the old environment's pods to the new one as traffic moves:
    # then nothing is left warm, and no rollback window is promised.
    text = (
        f"{reason}; {old} stays warm for {keep_warm}"
        if warm
        else f"{reason}; {old} has no pods left, so there is no warm environment to roll back to"
    )
    return transition(
        status,
        Phase.SUCCEEDED,
        now=obs.now,
        action="promoted",
        reason=text,
        announced=True,
        requeue_after=keep_warm if warm else None,
        active_env=new,
        candidate_env=other_env(new),
        traffic=status.traffic.model_copy(update={"target": normal, "applied": normal}),
        scale_down=ScaleDown(env=old, at=stamp(obs.now + keep_warm)) if warm else None,
        revisions=record_revision(obs, status),
    )


def pause(
    obs: Observation, status: RolloutStatus, reason: str, *, warning: bool = False
) -> Decision:
    """Enter Paused (the weight holds) until the user resumes or promotes."""
    return transition(
        status,
        Phase.PAUSED,
        now=obs.now,
        action="pause",
        reason=reason,
        announced=True,
        warning=warning,
    )


def resume(obs: Observation, status: RolloutStatus) -> Decision:
    """Back to Progressing at the same step; its clock restarts."""
    reason = "resumed by the user"
    return transition(
        status,
        Phase.PROGRESSING,
        now=obs.now,
        action="resume",
        reason=reason,
        requeue_after=QUICK,
        step_started_at=stamp(obs.now),
    )


def current_look(obs: Observation, step: int) -> AnalysisLook | None:
    """The judge's look at ``step``, if any; without a baseline past maxDuration, a look
    that rolls back (``onInconclusive: rollback``) or pauses, and never promotes."""
    look = obs.analysis
    if look is None or look.step != step:
        return None
    if not look.baseline_overdue:
        return look
    policy = obs.rollout.spec.analysis
    rollback = policy is not None and policy.on_inconclusive is InconclusivePolicy.ROLLBACK
    decision = AnalysisDecision.ROLLBACK if rollback else AnalysisDecision.PAUSE
    return replace(look, decision=decision)
